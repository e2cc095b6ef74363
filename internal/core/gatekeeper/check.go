package gatekeeper

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/store"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// CheckServiceName is the "may I contact?" service's name, as `nats micro
// ls` lists it.
const CheckServiceName = "hush-check"

// CheckServiceVersion is the version `nats micro info` shows: the wire
// contract's (docs/wire-contract.md).
const CheckServiceVersion = "1.0.0"

// maxConcurrentChecks bounds the checks one replica answers at once; more
// wait in the subscription, and the replicas' queue group shares them.
const maxConcurrentChecks = 4

// StartCheck starts the "may I contact?" service on nc: a NATS micro
// service (`nats micro ls|info|stats` list it) with one endpoint on
// hush.check.<producer>, in a queue group every replica joins. A producer
// asks with a CheckRequest (protobuf, or protojson with Content-Type:
// application/json) and gets a CheckResponse in the same encoding: the
// decision the gate would make now for each intent, with the policy in
// force, counting nothing (store.Check). The producer is the subject's
// token, which NATS lets only that producer's credential publish, so a
// check is authenticated like an intent. Stop the returned service to
// stop answering.
func (g *Gatekeeper) StartCheck(ctx context.Context, nc *nats.Conn) (micro.Service, error) {
	slots := make(chan struct{}, maxConcurrentChecks)
	handle := func(req micro.Request) {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			req.Error("503", "shutting down", nil)
			return
		}
		go func() {
			defer func() { <-slots }()
			g.answerCheck(ctx, req)
		}()
	}
	svc, err := micro.AddService(nc, micro.Config{
		Name:        CheckServiceName,
		Version:     CheckServiceVersion,
		Description: "Hush: may I contact? The would-be decision for each intent, counting nothing",
		QueueGroup:  CheckServiceName,
	})
	if err != nil {
		return nil, fmt.Errorf("start check service: %w", err)
	}
	if err := svc.AddEndpoint("check", micro.HandlerFunc(handle),
		micro.WithEndpointSubject(g.o.Subjects.Prefix+".check.*"),
		micro.WithEndpointMetadata(map[string]string{"request": "hush.v1.CheckRequest", "response": "hush.v1.CheckResponse"})); err != nil {
		svc.Stop()
		return nil, fmt.Errorf("start check service: %w", err)
	}
	return svc, nil
}

// answerCheck answers one request. A request Hush cannot read is a 400
// error (the Nats-Service-Error headers micro defines); a Redis failure a
// 500; an invalid intent is an answer, not an error.
func (g *Gatekeeper) answerCheck(ctx context.Context, req micro.Request) {
	producer, ok := strings.CutPrefix(req.Subject(), g.o.Subjects.Prefix+".check.")
	if !ok || producer == "" || strings.Contains(producer, ".") {
		req.Error("400", "the subject names no producer: publish on "+g.o.Subjects.Check("<producer>"), nil)
		return
	}
	h := nats.Header(req.Headers())
	var in hushv1.CheckRequest
	if err := bus.Decode(req.Data(), h, &in); err != nil {
		req.Error("400", "decode hush.v1.CheckRequest: "+err.Error(), nil)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, g.o.ProcessTimeout+time.Duration(len(in.GetIntents()))*100*time.Microsecond)
	defer cancel()
	out, err := g.Check(ctx, &policy.Publisher{Subject: req.Subject(), Producer: producer}, in.GetIntents())
	if err != nil {
		g.o.Logger.Warn("check failed", "producer", producer, "intents", len(in.GetIntents()), "err", err)
		req.Error("500", "check failed; try again", nil)
		return
	}
	resp := &hushv1.CheckResponse{Answers: out}
	var data []byte
	ct := bus.ContentTypeProtobuf
	if bus.IsJSON(h) {
		ct = bus.ContentTypeJSON
		data, err = protojson.Marshal(resp)
	} else {
		data, err = proto.Marshal(resp)
	}
	if err == nil {
		err = req.Respond(data, micro.WithHeaders(micro.Headers{bus.HeaderContentType: []string{ct}}))
	}
	if err != nil {
		g.o.Logger.Warn("check not answered", "producer", producer, "intents", len(in.GetIntents()), "err", err)
	}
}

// Check answers "may I contact?" for intents a producer would publish: the
// decision the gate would make now with the policy in force, counting,
// reserving and recording nothing (see store.Check). pub is the producer
// asking, as its credential proves it.
func (g *Gatekeeper) Check(ctx context.Context, pub *policy.Publisher, its []*hushv1.ContactIntent) ([]*hushv1.CheckAnswer, error) {
	if g.store == nil {
		return nil, errors.New("check: no store")
	}
	return g.store.Check(ctx, store.CheckOptions{Policy: g.policy.Load(), Publisher: pub, Now: g.o.Now}, its)
}
