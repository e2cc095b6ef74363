package policy

// Unsolicited reports whether an intent is an agent's contact to a
// customer who had not reached out: initiated by an agent, and not a reply
// inside the open reply window of the thread it answers. It is the fact
// Evaluate derives for the over-servicing guard, told for every intent
// (whatever its outcome), so that the outcome and the contact history can
// record it and the over-servicing report can count it.
func Unsolicited(in Input) bool {
	it := in.Intent
	if it.GetInitiator() != "agent" {
		return false
	}
	return it.GetInReplyTo() == "" || !in.Now.Before(in.ReplyUntil)
}
