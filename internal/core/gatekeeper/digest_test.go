package gatekeeper_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/hush-oss/hush/internal/core/gatekeeper"
	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// digestPolicy folds newsletters and offers into digests of three, released
// at 03:00 UTC (never during these tests, so that only the count releases).
const digestPolicy = `
version: digest-1
categories:
  critical:      { class: critical }
  transactional: { class: transactional }
  marketing:     { class: marketing }
  newsletter:    { class: marketing }
  offers:        { class: marketing }
caps:
  - { id: customer-hourly, scope: customer, window: 1h, max: 2, classes: [marketing] }
digest:
  categories: [newsletter, offers]
  at: "03:00"
  max_pending: 3
producers:
  campaigns: { categories: [critical, transactional] }
`

func digestHarness(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t)
	var err error
	if h.pol, err = policy.Parse("digest.yaml", []byte(digestPolicy)); err != nil {
		t.Fatal(err)
	}
	return h
}

// digests splits the dispatch stream into digests (by id) and single
// dispatches, and the suppression log into folded intents' records (by
// intent id) and the rest.
type digestOutcomes struct {
	digests    map[string]*hushv1.Digest
	dispatched []string
	folded     map[string]*hushv1.Decision
	suppressed map[string]*hushv1.Decision // by intent or digest id
}

func readDigestOutcomes(t *testing.T, dispatched, suppressed []jetstream.Msg) digestOutcomes {
	t.Helper()
	o := digestOutcomes{digests: map[string]*hushv1.Digest{}, folded: map[string]*hushv1.Decision{}, suppressed: map[string]*hushv1.Decision{}}
	for _, m := range dispatched {
		if id := m.Headers().Get(gatekeeper.HeaderDigest); id != "" {
			d := new(hushv1.Digest)
			if err := proto.Unmarshal(m.Data(), d); err != nil {
				t.Fatal(err)
			}
			if _, dup := o.digests[id]; dup || d.GetId() != id {
				t.Errorf("digest %s dispatched twice, or under another id (%s)", id, d.GetId())
			}
			o.digests[id] = d
			continue
		}
		it := new(hushv1.ContactIntent)
		if err := proto.Unmarshal(m.Data(), it); err != nil {
			t.Fatal(err)
		}
		o.dispatched = append(o.dispatched, it.GetId())
	}
	for _, m := range suppressed {
		rec := suppression(t, m)
		d := rec.GetDecision()
		if d.GetOutcome() == hushv1.Outcome_OUTCOME_FOLDED {
			if _, dup := o.folded[d.GetIntentId()]; dup {
				t.Errorf("%s folded twice", d.GetIntentId())
			}
			o.folded[d.GetIntentId()] = d
			continue
		}
		o.suppressed[d.GetIntentId()] = d
	}
	return o
}

// exactlyOnce checks the digest invariant: every folded intent is in
// exactly one digest, the one its decision names, and never dispatched
// alone.
func (o digestOutcomes) exactlyOnce(t *testing.T) {
	t.Helper()
	in := map[string]string{}
	for id, d := range o.digests {
		for _, it := range d.GetIntents() {
			if prev, dup := in[it.GetId()]; dup {
				t.Errorf("%s is in digests %s and %s", it.GetId(), prev, id)
			}
			in[it.GetId()] = id
		}
	}
	for _, id := range o.dispatched {
		if _, ok := o.folded[id]; ok {
			t.Errorf("%s was folded and dispatched alone", id)
		}
	}
	for id, d := range o.folded {
		if got := in[id]; got != "" && got != d.GetDigestId() {
			t.Errorf("%s: in digest %s, its decision names %s", id, got, d.GetDigestId())
		}
	}
}

func TestDigestFoldsCountsOnceAndReleasesWhenFull(t *testing.T) {
	h := digestHarness(t)
	h.startGatekeeper(gatekeeper.Options{})
	c := "c-digest"
	for i := range 7 {
		h.publish(intent(fmt.Sprintf("n-%d", i), c, "email", "newsletter"))
	}
	// 7 folds, and two digests of three (the seventh waits for 03:00)
	dispatched, suppressed, _ := h.outcomes(9)
	o := readDigestOutcomes(t, dispatched, suppressed)
	if len(o.folded) != 7 || len(o.digests) != 2 || len(o.dispatched) != 0 {
		t.Fatalf("%d folded, %d digests, %d dispatched; want 7, 2, 0", len(o.folded), len(o.digests), len(o.dispatched))
	}
	o.exactlyOnce(t)
	for id, d := range o.digests {
		if len(d.GetIntents()) != 3 || d.GetTrigger() != policy.TriggerCount || d.GetCustomerId() != c || d.GetChannel() != "email" {
			t.Errorf("digest %s: %d intents, trigger %q", id, len(d.GetIntents()), d.GetTrigger())
		}
		for _, it := range d.GetIntents() {
			if string(it.GetPayload()) != "payload of "+it.GetId() {
				t.Errorf("digest %s carries %s without its payload", id, it.GetId())
			}
		}
	}
	for id, d := range o.folded {
		if d.GetDigestId() == "" || len(d.GetReasons()) != 1 || d.GetReasons()[0].GetCode() != hushv1.ReasonCode_REASON_CODE_FOLDED_INTO_DIGEST {
			t.Errorf("folded %s: %v", id, d)
		}
	}
	// each digest is one contact: the customer-hourly cap of 2 lets both
	// through, and the ledger holds two contacts, not six
	assertLedger(t, h, c, 2)
	p, ok, err := h.store.OpenDigest(context.Background(), c, "email")
	if err != nil || !ok || p.Count != 1 {
		t.Errorf("pending %+v %v %v; want the seventh intent", p, ok, err)
	}
}

func TestReleasedDigestIsDecidedWithCurrentWishes(t *testing.T) {
	h := digestHarness(t)
	h.startGatekeeper(gatekeeper.Options{})
	ctx := context.Background()

	// capped at release: two contacts this hour already
	capped := "c-capped"
	h.publish(intent("m-1", capped, "email", "marketing"))
	h.publish(intent("m-2", capped, "email", "marketing"))
	h.outcomes(2)
	for i := range 3 {
		h.publish(intent(fmt.Sprintf("cap-%d", i), capped, "email", "offers"))
	}
	// opted out of newsletters after the first was folded
	opted := "c-opted"
	h.publish(intent("opt-0", opted, "email", "newsletter"))
	h.outcomes(3)
	h.setPrefs(opted, &hushv1.Preferences{OptedOutCategories: []string{"newsletter"}})
	h.publish(intent("opt-1", opted, "email", "offers"))
	h.publish(intent("opt-2", opted, "email", "offers"))

	// 2 approved + 6 folded + 2 suppressed digests
	dispatched, suppressed, _ := h.outcomes(10)
	o := readDigestOutcomes(t, dispatched, suppressed)
	if len(o.digests) != 0 || len(o.folded) != 6 || len(o.dispatched) != 2 {
		t.Fatalf("%d digests, %d folded, %d dispatched; want 0, 6, 2", len(o.digests), len(o.folded), len(o.dispatched))
	}
	want := map[string]hushv1.ReasonCode{capped: hushv1.ReasonCode_REASON_CODE_FREQUENCY_CAP, opted: hushv1.ReasonCode_REASON_CODE_CATEGORY_OPTED_OUT}
	for customer, code := range want {
		id := o.folded[map[string]string{capped: "cap-0", opted: "opt-0"}[customer]].GetDigestId()
		d := o.suppressed[id]
		if d.GetOutcome() != hushv1.Outcome_OUTCOME_SUPPRESSED || len(d.GetReasons()) == 0 || d.GetReasons()[0].GetCode() != code || d.GetDigestId() != id {
			t.Errorf("digest %s of %s: %v; want suppressed %v", id, customer, d, code)
		}
		rec, err := h.store.DigestDecision(ctx, customer, id)
		if err != nil || rec.GetOutcome() != hushv1.Outcome_OUTCOME_SUPPRESSED {
			t.Errorf("recorded decision of digest %s: %v %v", id, rec, err)
		}
		ids, err := h.store.DigestIntents(ctx, customer, id)
		if err != nil || len(ids) != 3 {
			t.Errorf("digest %s holds %v (%v); want its 3 intents", id, ids, err)
		}
	}
	assertLedger(t, h, capped, 2) // the capped digest counted nothing
}

// TestDigestReleasedAtTheCustomersTime folds by the customer's own choice and
// waits for the minute they chose: the release comes from the JetStream
// schedule, at that minute.
func TestDigestReleasedAtTheCustomersTime(t *testing.T) {
	h := digestHarness(t)
	h.startGatekeeper(gatekeeper.Options{})
	c := "c-own"
	next := time.Now().UTC().Add(2 * time.Second).Truncate(time.Minute).Add(time.Minute)
	h.setPrefs(c, &hushv1.Preferences{TimeZone: "UTC", Digest: &hushv1.DigestPreference{Categories: []string{"marketing"}, At: next.Format("15:04")}})
	h.publish(intent("own-1", c, "email", "marketing"))
	h.publish(intent("own-2", c, "email", "marketing"))
	// (the release minute is up to 62 s away: wait for it, and as long again)
	dispatched, suppressed, _ := h.outcomesWithin(3, time.Until(next)+60*time.Second)
	o := readDigestOutcomes(t, dispatched, suppressed)
	if len(o.digests) != 1 || len(o.folded) != 2 {
		t.Fatalf("%d digests, %d folded; want 1, 2", len(o.digests), len(o.folded))
	}
	o.exactlyOnce(t)
	for _, d := range o.digests {
		if d.GetTrigger() != policy.TriggerSchedule || len(d.GetIntents()) != 2 || d.GetReleasedAt().AsTime().Before(next) {
			t.Errorf("digest %s: trigger %q, %d intents, released %v; want schedule, 2, at %v", d.GetId(), d.GetTrigger(), len(d.GetIntents()), d.GetReleasedAt().AsTime(), next)
		}
	}
}
