package bus

// StreamOutcomes is the outcome feed: every decision, on the subject of the
// producer that published the intent, so that each producer reads its own
// outcomes and nobody else's (deploy/nats/accounts.conf).
const StreamOutcomes = "OUTCOMES"

// Outcome is where the decisions of a producer's intents on a channel are
// published: "hush.outcome.<producer>.<channel>". Only that producer's
// credential may read it (and create consumers filtered to it).
func (s Subjects) Outcome(producer, channel string) string {
	return s.Prefix + ".outcome." + Token(producer) + "." + channel
}

// OutcomesOf is the wildcard of a producer's outcomes on every channel.
func (s Subjects) OutcomesOf(producer string) string {
	return s.Prefix + ".outcome." + Token(producer) + ".>"
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
