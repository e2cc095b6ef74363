// Package loadgen drives Hush under load and measures it: a workload of
// contact intents over many customers with a Zipf skew, a publisher at a
// fixed rate or flat out, a collector that times every outcome on the
// dispatch and suppression streams, and the reference points a result is
// compared with (the Redis decision script alone, a pass-through relay).
// services/loadgen and `make bench` put it together.
package loadgen

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/store"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// Weighted is a name drawn with a relative weight.
type Weighted struct {
	Name   string `json:"name"`
	Weight int    `json:"weight"`
}

// Workload describes the intents a run publishes.
type Workload struct {
	// Customers is how many distinct customers intents address.
	Customers int `json:"customers"`
	// ZipfS (> 1) and ZipfV (>= 1) shape the skew: customer k is addressed
	// in proportion to (ZipfV + k)^-ZipfS. A larger V flattens the head.
	ZipfS float64 `json:"zipf_s"`
	ZipfV float64 `json:"zipf_v"`
	// OptedOut is the fraction of customers who unsubscribed from email
	// and sms; DoNothing the fraction in do-nothing mode.
	OptedOut  float64 `json:"opted_out"`
	DoNothing float64 `json:"do_nothing"`
	// Channels and Categories are drawn by weight. Categories must be
	// named by the policy.
	Channels   []Weighted `json:"channels"`
	Categories []Weighted `json:"categories"`
	// Topics is how many topics intents spread over.
	Topics int `json:"topics"`
	// PayloadBytes is the size of each intent's opaque payload.
	PayloadBytes int `json:"payload_bytes"`
	// Seed makes a run repeatable.
	Seed uint64 `json:"seed"`
}

// DefaultWorkload is a business's day in miniature: mostly transactional
// and service contacts, a third marketing, a few critical; email first.
func DefaultWorkload() Workload {
	return Workload{
		Customers: 100_000,
		ZipfS:     1.1,
		ZipfV:     1,
		OptedOut:  0.05,
		DoNothing: 0.02,
		Channels: []Weighted{
			{"email", 50}, {"push", 25}, {"sms", 20}, {"in_app", 5},
		},
		Categories: []Weighted{
			{"transactional", 30}, {"service", 25}, {"marketing", 30}, {"survey", 10}, {"critical", 5},
		},
		Topics:       20,
		PayloadBytes: 200,
		Seed:         1,
	}
}

// Role is what a customer asked for.
type Role uint8

// Customer roles.
const (
	RoleNormal Role = iota
	RoleOptedOut
	RoleDoNothing
)

// Role returns customer k's role. Roles are spread over the ranks by a
// hash, so hot and cold customers alike have opted out.
func (w Workload) Role(k int) Role {
	x := float64((uint64(k)*0x9E3779B97F4A7C15)>>40%10_000) / 10_000
	switch {
	case x < w.OptedOut:
		return RoleOptedOut
	case x < w.OptedOut+w.DoNothing:
		return RoleDoNothing
	}
	return RoleNormal
}

// CustomerID names customer k.
func CustomerID(k int) string { return "c-" + strconv.Itoa(k) }

// Preferences returns what a customer of a role has set; nil for normal
// customers, who have set nothing.
func Preferences(k int, r Role) *hushv1.Preferences {
	switch r {
	case RoleOptedOut:
		return &hushv1.Preferences{CustomerId: CustomerID(k), OptedOutChannels: []string{"email", "sms"}}
	case RoleDoNothing:
		return &hushv1.Preferences{CustomerId: CustomerID(k), Mode: hushv1.Mode_MODE_DO_NOTHING}
	}
	return nil
}

// SeedPreferences writes the preferences of every customer who has set
// some, through the store as the preferences API would, and returns how
// many it wrote.
func (w Workload) SeedPreferences(ctx context.Context, st *store.Store, concurrency int) (int, error) {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		n     int
	)
	ks := make(chan int)
	for range max(concurrency, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range ks {
				p := Preferences(k, w.Role(k))
				_, _, err := st.SetPreferences(ctx, CustomerID(k), p, nil)
				mu.Lock()
				if err != nil && first == nil {
					first = err
				}
				n++
				mu.Unlock()
			}
		}()
	}
	for k := range w.Customers {
		if w.Role(k) != RoleNormal {
			ks <- k
		}
	}
	close(ks)
	wg.Wait()
	if first != nil {
		return n, fmt.Errorf("seed preferences: %w", first)
	}
	return n, nil
}

// Generator makes a workload's intents. It is not safe for concurrent use.
type Generator struct {
	w          Workload
	run        string
	rng        *rand.Rand
	zipf       *rand.Zipf
	channels   []string
	categories []string
	topics     []string
	payload    []byte
}

// NewGenerator returns a generator whose intent ids start with run;
// stream varies the random sequence between generators of one run.
func (w Workload) NewGenerator(run string, stream uint64) *Generator {
	rng := rand.New(rand.NewPCG(w.Seed, stream))
	g := &Generator{
		w: w, run: run, rng: rng,
		zipf:       rand.NewZipf(rng, w.ZipfS, max(w.ZipfV, 1), uint64(max(w.Customers, 1)-1)),
		channels:   expand(w.Channels),
		categories: expand(w.Categories),
		payload:    make([]byte, w.PayloadBytes),
	}
	for i := range max(w.Topics, 1) {
		g.topics = append(g.topics, "topic-"+strconv.Itoa(i))
	}
	for i := range g.payload {
		g.payload[i] = byte('a' + i%26)
	}
	return g
}

func expand(ws []Weighted) []string {
	var out []string
	for _, w := range ws {
		for range w.Weight {
			out = append(out, w.Name)
		}
	}
	if len(out) == 0 {
		out = []string{""}
	}
	return out
}

// IntentID is the id of the seq-th intent of a run.
func IntentID(run string, seq uint64) string { return run + "-" + strconv.FormatUint(seq, 10) }

// Customer draws the next customer rank.
func (g *Generator) Customer() int { return int(g.zipf.Uint64()) }

// Next returns the seq-th intent, to customer k, created at now.
func (g *Generator) Next(seq uint64, k int, now time.Time) *hushv1.ContactIntent {
	return &hushv1.ContactIntent{
		Id:         IntentID(g.run, seq),
		CustomerId: CustomerID(k),
		Channel:    g.channels[g.rng.IntN(len(g.channels))],
		Category:   g.categories[g.rng.IntN(len(g.categories))],
		Topic:      g.topics[g.rng.IntN(len(g.topics))],
		Sender:     &hushv1.Sender{Service: "loadgen"},
		Initiator:  "system",
		CreatedAt:  timestamppb.New(now),
		NotAfter:   timestamppb.New(now.Add(time.Hour)),
		Payload:    g.payload,
	}
}
