package bus

// StreamOutcomes is every decision, once: the producers' outcome feed and
// the customers' contact history in one stream. Each message is on
// Outcome(producer, channel, customer), so that a producer reads its own
// outcomes and nobody else's (deploy/nats/accounts.conf) through a
// consumer filtered on its token, and the preference page and the
// over-servicing report read a customer's history through one filtered on
// the customer's (ReadHistory). One message serves both: a decision costs
// JetStream three stored messages (intent, outcome, this one), not four.
const StreamOutcomes = "OUTCOMES"

// HeaderMessageType names the protobuf message of an outcome-feed record:
// MessageTypeRecord (a SuppressionRecord: the Decision and the intent
// without payload and destination). Records stored before the feed and the
// history were one stream have no such header and hold a bare Decision.
const HeaderMessageType = "Hush-Message-Type"

// MessageTypeRecord is HeaderMessageType's value on the feed's records.
const MessageTypeRecord = "hush.v1.SuppressionRecord"

// Outcome is where the decision of a producer's intent for a customer on a
// channel is published: "hush.outcome.<producer>.<channel>.<customer>".
// Only that producer's credential may read hush.outcome.<producer>.> (and
// create consumers filtered to it).
func (s Subjects) Outcome(producer, channel, customer string) string {
	return s.Prefix + ".outcome." + Token(producer) + "." + channel + "." + Token(customer)
}

// OutcomesOf is the wildcard of a producer's outcomes on every channel.
func (s Subjects) OutcomesOf(producer string) string {
	return s.Prefix + ".outcome." + Token(producer) + ".>"
}

// OutcomesFor is the wildcard of every outcome for a customer: the
// customer's contact history.
func (s Subjects) OutcomesFor(customer string) string {
	return s.Prefix + ".outcome.*.*." + Token(customer)
}

// Check is the subject of the "may I contact?" service for a producer:
// "hush.check.<producer>". Only that producer's credential may publish to
// it, so the check knows who asks the way the gate knows who publishes.
func (s Subjects) Check(producer string) string {
	return s.Prefix + ".check." + Token(producer)
}

// OutcomeConsumer is the name of the one durable consumer a producer may
// create on the outcome stream: its own name. NATS permissions are per
// subject token, so a producer's consumer must be named for the producer
// for its pull requests ($JS.API.CONSUMER.MSG.NEXT.<stream>.<name>) to be
// its own and nobody else's.
func OutcomeConsumer(producer string) string { return Token(producer) }
