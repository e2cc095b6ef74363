package main

import (
	"fmt"
	"strings"

	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// packView is a pack as hushctl policy packs prints it.
type packView struct {
	Name       string         `json:"name"`
	Version    string         `json:"version"`
	Title      string         `json:"title"`
	Mode       string         `json:"mode,omitempty"`
	Categories []string       `json:"categories,omitempty"`
	Sources    []string       `json:"sources,omitempty"`
	NotCovered []string       `json:"notCovered,omitempty"`
	Rules      []packRuleView `json:"rules"`
}

type packRuleView struct {
	ID          string `json:"id"`
	Section     string `json:"section"`
	Kind        string `json:"kind"`
	Rule        string `json:"rule"`
	Unconfirmed string `json:"unconfirmed,omitempty"`
}

// policyPacks lists regulation packs with their versions and rules: those a
// policy file composes (--policy: with its mode and categories), else those
// shipped with Hush. It reads no server.
func policyPacks(a *app, args []string) error {
	if _, err := a.parse(args, 0, 0); err != nil {
		return err
	}
	var packs []policy.Pack
	source := "the packs shipped with Hush (deploy/policy/packs); --policy FILE shows how a policy composes them"
	if a.c.Policy != "" {
		p, err := policy.LoadFile(a.c.Policy)
		if err != nil {
			return err
		}
		packs = p.Packs()
		source = fmt.Sprintf("the packs of policy %s (%s)", p.Version, a.c.Policy)
	} else {
		for _, n := range policy.EmbeddedPacks() {
			pk, err := policy.LoadPack(n)
			if err != nil {
				return err
			}
			packs = append(packs, pk)
		}
	}
	views := make([]packView, 0, len(packs))
	for _, pk := range packs {
		v := packView{Name: pk.Name, Version: pk.Version, Title: pk.Title, Categories: pk.Categories, Sources: pk.Sources, NotCovered: pk.NotCovered}
		if a.c.Policy != "" {
			v.Mode = string(pk.Mode)
		}
		for _, r := range pk.Rules {
			v.Rules = append(v.Rules, packRuleView{ID: r.ID, Section: r.Section, Kind: r.Kind(), Rule: r.Describe(), Unconfirmed: r.Unconfirmed})
		}
		views = append(views, v)
	}
	if a.c.JSON {
		return a.printJSON(views)
	}
	fmt.Fprintf(a.stdout, "%s:\n", source)
	if len(views) == 0 {
		fmt.Fprintln(a.stdout, "  (none)")
	}
	for _, v := range views {
		fmt.Fprintf(a.stdout, "\n%s %s  %s\n", v.Name, v.Version, v.Title)
		if v.Mode != "" {
			fmt.Fprintf(a.stdout, "  mode %s; categories %s\n", v.Mode, strings.Join(v.Categories, ", "))
		}
		rows := make([][]string, 0, len(v.Rules))
		var notes []string
		for _, r := range v.Rules {
			section := r.Section
			if r.Unconfirmed != "" {
				section += " *"
				notes = append(notes, "  * "+r.ID+": unconfirmed: "+r.Unconfirmed)
			}
			rows = append(rows, []string{"  " + r.ID, section, r.Kind, r.Rule})
		}
		a.table([]string{"  RULE", "SECTION", "KIND", "WHAT"}, rows)
		for _, n := range notes {
			fmt.Fprintln(a.stdout, n)
		}
	}
	return nil
}

// lawOf names the pack rule behind a reason: "us-reg-f 2026.11.1, 12 CFR
// 1006.14(b)(2)(i)(A)"; "-" for the policy's own rules.
func lawOf(r *hushv1.Reason) string {
	if r.GetPack() == "" {
		return "-"
	}
	return r.GetPack() + " " + r.GetPackVersion() + ", " + r.GetSection()
}
