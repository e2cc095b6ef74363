package main

import (
	"errors"
	"fmt"

	"github.com/hush-oss/hush/internal/core/deferral"
)

func (a *app) deferrals() (*deferral.Deferrals, error) {
	js, err := a.jetstream()
	if err != nil {
		return nil, err
	}
	st, err := a.store()
	if err != nil {
		return nil, err
	}
	pol, err := a.policy()
	if err != nil {
		return nil, err
	}
	return deferral.New(js, st, a.subjects(), pol.DecisionRetention), nil
}

// deferredView is one deferral as hushctl prints it.
type deferredView struct {
	IntentID   string `json:"intent_id"`
	Customer   string `json:"customer_id"`
	Channel    string `json:"channel"`
	Category   string `json:"category"`
	Topic      string `json:"topic,omitempty"`
	Sender     string `json:"sender,omitempty"`
	ReleaseAt  string `json:"release_at"`
	DeferredAt string `json:"deferred_at"`
}

func deferredList(a *app, args []string) error {
	pos, err := a.parse(args, 1, 1)
	if err != nil {
		return err
	}
	d, err := a.deferrals()
	if err != nil {
		return err
	}
	list, err := d.List(a.ctx, pos[0])
	if err != nil {
		return err
	}
	views := make([]deferredView, 0, len(list))
	for _, x := range list {
		views = append(views, deferredView{x.IntentID, x.CustomerID, x.Channel, x.Category, x.Topic, x.Sender, ts(x.ReleaseAt), ts(x.DeferredAt)})
	}
	if a.c.JSON {
		return a.printJSON(views)
	}
	if len(views) == 0 {
		fmt.Fprintf(a.stdout, "no pending deferrals for %s\n", pos[0])
		return nil
	}
	rows := make([][]string, 0, len(views))
	for _, v := range views {
		rows = append(rows, []string{v.IntentID, v.Channel, v.Category, orDash(v.Topic), orDash(v.Sender), v.ReleaseAt, v.DeferredAt})
	}
	a.table([]string{"INTENT", "CHANNEL", "CATEGORY", "TOPIC", "SENDER", "RELEASE", "DEFERRED"}, rows)
	return nil
}

func deferredCancel(a *app, args []string) error {
	pos, err := a.parse(args, 2, 2)
	if err != nil {
		return err
	}
	d, err := a.deferrals()
	if err != nil {
		return err
	}
	customer, id := pos[0], pos[1]
	if err := d.Cancel(a.ctx, customer, id); err != nil {
		if errors.Is(err, deferral.ErrNotFound) {
			return fmt.Errorf("%s has no pending deferral %s (never deferred, released or cancelled already)", customer, id)
		}
		return err
	}
	if a.c.JSON {
		return a.printJSON(map[string]string{"customer_id": customer, "intent_id": id, "outcome": "suppressed", "rule": deferral.RuleCancelled})
	}
	fmt.Fprintf(a.stdout, "cancelled %s of %s: recorded and logged as suppressed (%s); it will not be released\n", id, customer, deferral.RuleCancelled)
	return nil
}
