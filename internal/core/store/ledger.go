package store

import (
	"strings"
	"time"

	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// Contact is one counted contact in a customer's ledger.
type Contact = policy.Contact

// A ledger member is the intent id, then the fields caps can be scoped to
// in policy.Scope order (channel, category, topic, sender, kind: "u" for an
// unsolicited agent contact), then the class code (policy.LedgerClassField),
// then the subject_ref (policy.ScopeSubject), joined by \x1f; its score is the contact's time in unix ms. decide.lua
// reads the same layout.
const memberSep = "\x1f"

// LedgerMember is how a counted system contact of class service is stored
// in the customer's ledger; see ledgerMember.
func LedgerMember(it *hushv1.ContactIntent) string {
	return ledgerMember(it, false, policy.ClassService)
}

// ledgerMember encodes an intent's contact as a ledger member.
func ledgerMember(it *hushv1.ContactIntent, unsolicited bool, class policy.Class) string {
	kind := ""
	if unsolicited {
		kind = "u"
	}
	return strings.Join([]string{it.GetId(), it.GetChannel(), it.GetCategory(), it.GetTopic(), it.GetSender().GetService(), kind, class.Code(), it.GetSubjectRef()}, memberSep)
}

// decodeMember reads a ledger member made at a time; members written before
// a field existed read it as empty.
func decodeMember(member string, at time.Time) Contact {
	f := strings.Split(member, memberSep)
	for len(f) < int(policy.ScopeSubject)+1 {
		f = append(f, "")
	}
	return Contact{IntentID: f[0], Channel: f[1], Category: f[2], Topic: f[3], Sender: f[4], At: at,
		Unsolicited: f[5] == "u", Class: f[policy.LedgerClassField], Subject: f[policy.ScopeSubject]}
}
