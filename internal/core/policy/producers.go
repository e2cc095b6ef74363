package policy

import (
	"fmt"

	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// Rule ids of the producer checks, applied before every other rule: an
// intent whose sender or class cannot be trusted is decided on that alone.
const (
	// RuleProducerSender names the refusal of an intent whose
	// sender.service is not the producer whose credential published it
	// (see authenticate). It is no entry of the rule list and not in
	// RuleIDs: it is always enforced.
	RuleProducerSender = "producer.sender"
	// RuleProducerCategory refuses a category the policy does not grant
	// the producer (critical and transactional ones, and those marked
	// restricted). Shadow mode serves only to roll out an allow-list.
	RuleProducerCategory = "producer.category"
)

// producerGrants is the policy's producers section, compiled.
type producerGrants struct {
	// restricted are the categories only the producers granted them may
	// use: every critical and transactional category, and those the
	// policy marks restricted.
	restricted map[string]bool
	// grants are the restricted categories each producer may use.
	grants map[string]map[string]bool
}

// rawProducer is one producer of the producers section.
type rawProducer struct {
	Categories []string `yaml:"categories"`
}

// Allows reports whether the policy lets a producer use a category.
func (p *Policy) Allows(producer, category string) bool {
	return !p.producers.restricted[category] || p.producers.grants[producer][category]
}

// authenticate refuses an intent whose sender is not the producer that
// published it, before any rule: every rule after it trusts the intent's
// class and sender. It is no entry of the rule list and has no mode, like
// validation: a shadow mode would let any producer speak as any other. It
// reports true when it refused.
func (p *Policy) authenticate(v *Verdict, in Input) bool {
	pub := in.Publisher
	if pub == nil {
		return false
	}
	sender := in.Intent.GetSender().GetService()
	var msg string
	switch {
	case pub.Producer == "":
		msg = "published on " + pub.Subject + ", which names no producer: the sender is not authenticated"
	case sender != pub.Producer:
		msg = fmt.Sprintf("sender.service %q is not %q, the producer whose credential published it", sender, pub.Producer)
	default:
		return false
	}
	v.Outcome = hushv1.Outcome_OUTCOME_SUPPRESSED
	v.Reason = Reason{Code: hushv1.ReasonCode_REASON_CODE_SENDER_UNVERIFIED, Rule: RuleProducerSender, Message: msg}
	return true
}

// producerCategory refuses a restricted category (critical and
// transactional ones, and those the policy marks restricted) to a producer
// the policy does not grant it. The sender is the authenticated producer:
// authenticate has refused any other.
func producerCategory(p *Policy, s subject) (objection, bool) {
	sender := s.it.GetSender().GetService()
	if p.Allows(sender, s.it.GetCategory()) {
		return objection{}, false
	}
	return objection{code: hushv1.ReasonCode_REASON_CODE_PRODUCER_NOT_ALLOWED,
		message: fmt.Sprintf("producer %q may not send %s contacts: the policy's producers section does not grant it", sender, s.it.GetCategory())}, true
}

// producers compiles the producers section: the allow-list: critical and transactional
// categories are always restricted, others when the policy says so; each
// producer names the restricted categories it may use.
func (c *compiler) producers(p *Policy, cats map[string]rawCategory, producers map[string]rawProducer) {
	p.producers = producerGrants{restricted: map[string]bool{}, grants: make(map[string]map[string]bool, len(producers))}
	for name, cat := range cats {
		class := Class(cat.Class)
		switch always := class == ClassCritical || class == ClassTransactional; {
		case always && cat.Restricted != nil && !*cat.Restricted:
			c.fail(string(class)+" categories are always restricted to the producers that list them", "categories", name, "restricted")
			fallthrough
		case always, cat.Restricted != nil && *cat.Restricted:
			p.producers.restricted[name] = true
		}
	}
	for name, pr := range producers {
		if !validName(name) {
			c.fail("producer names use a-z, 0-9, '_' and '-' (the subject token its credential publishes under)", "producers", name)
		}
		if len(pr.Categories) == 0 {
			c.fail("required: the categories this producer may use", "producers", name, "categories")
		}
		g := make(map[string]bool, len(pr.Categories))
		for j, cat := range pr.Categories {
			if _, ok := cats[cat]; !ok {
				c.fail(fmt.Sprintf("unknown category %q", cat), "producers", name, "categories", j)
			}
			g[cat] = true
		}
		p.producers.grants[name] = g
	}
}

// Channel families: a customer who reached out on one channel of a family
// can be answered on any channel of it (an SMS answered by WhatsApp or a
// call: the same phone number), never on another family.
var channelFamilies = map[string]string{
	"email": "email",
	"sms":   "phone", "voice": "phone", "whatsapp": "phone",
	"push": "app", "in_app": "app",
}

// ChannelFamily is the family of a channel: "phone" for sms, voice and
// whatsapp; "app" for push and in_app; "email" for email; "" for a channel
// Hush does not know.
func ChannelFamily(channel string) string { return channelFamilies[channel] }

// ReplyThread is the key of a reply window: the thread the customer opened,
// within the family of the channel it was opened on. A reply (an intent
// whose in_reply_to names the thread) finds the window only on a channel of
// the same family. "" when thread is.
func ReplyThread(channel, thread string) string {
	if thread == "" {
		return ""
	}
	return ChannelFamily(channel) + ":" + thread
}
