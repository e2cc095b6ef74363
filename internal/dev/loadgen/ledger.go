package loadgen

import (
	"sync/atomic"
)

const slotBits = 16

// slot is what the harness knows about one intent: when it was published
// and how many outcomes were seen for it.
type slot struct {
	sent     atomic.Int64 // unix ns
	outcomes atomic.Uint32
}

// Book records every intent a run publishes, by sequence number, and the
// outcomes seen for it, without locks: the publisher writes a slot before
// publishing, the collector reads it when the outcome arrives.
type Book struct {
	chunks []atomic.Pointer[[1 << slotBits]slot]
}

// NewBook returns a book for up to capacity intents.
func NewBook(capacity uint64) *Book {
	return &Book{chunks: make([]atomic.Pointer[[1 << slotBits]slot], capacity>>slotBits+1)}
}

// Capacity is how many intents the book can hold.
func (b *Book) Capacity() uint64 { return uint64(len(b.chunks)) << slotBits }

func (b *Book) slot(seq uint64, grow bool) *slot {
	i := seq >> slotBits
	if i >= uint64(len(b.chunks)) {
		return nil
	}
	c := b.chunks[i].Load()
	if c == nil {
		if !grow {
			return nil
		}
		c = new([1 << slotBits]slot)
		if !b.chunks[i].CompareAndSwap(nil, c) {
			c = b.chunks[i].Load()
		}
	}
	return &c[seq&(1<<slotBits-1)]
}

// Sent records that intent seq is being published at unix ns t. It
// reports false when the book is full.
func (b *Book) Sent(seq uint64, t int64) bool {
	s := b.slot(seq, true)
	if s == nil {
		return false
	}
	s.sent.Store(t)
	return true
}

// Outcome records an outcome for intent seq and returns when it was
// published (0 when unknown) and how many outcomes it has had so far.
func (b *Book) Outcome(seq uint64) (sent int64, n uint32) {
	s := b.slot(seq, false)
	if s == nil {
		return 0, 0
	}
	return s.sent.Load(), s.outcomes.Add(1)
}

// Audit counts, over intents 0..published-1, those with no outcome and
// those with more than one.
func (b *Book) Audit(published uint64) (missing, duplicated uint64) {
	for seq := range published {
		s := b.slot(seq, false)
		switch {
		case s == nil || s.outcomes.Load() == 0:
			missing++
		case s.outcomes.Load() > 1:
			duplicated++
		}
	}
	return missing, duplicated
}
