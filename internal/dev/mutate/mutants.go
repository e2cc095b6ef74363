package mutate

// Mutants is the named list of deliberate breaks, one or more for each
// invariant in the design. `make mutate` runs them all; each must be caught.
var Mutants = []Mutation{
	{
		Name:      "replay-removed",
		Invariant: "exactly one terminal outcome per intent id: a redelivered or republished intent replays its recorded decision",
		File:      "internal/core/store/lua/decide.lua",
		Find:      "if rec then\n  return {'replay', rec}\nend",
		Replace:   "if false then\n  return {'replay', rec}\nend",
		Packages:  []string{"./internal/core/gatekeeper"},
		Run:       "Republished|Redelivery",
	},
	{
		Name:      "stale-version-check-removed",
		Invariant: "read-your-writes for opt-outs: the decide script refuses preferences older than Redis holds",
		File:      "internal/core/store/lua/decide.lua",
		Find:      "if version ~= prefs_version or reply ~= assumed_reply then",
		Replace:   "if false then",
		Packages:  []string{"./internal/core/store", "./internal/core/gatekeeper"},
	},
	{
		Name:      "window-bound-inclusive",
		Invariant: "rolling windows are exact: a contact exactly one window ago no longer counts",
		File:      "internal/core/store/lua/decide.lua",
		Find:      "if e[2] > since and",
		Replace:   "if e[2] >= since and",
		Packages:  []string{"./internal/core/store"},
	},
	{
		Name:      "cap-off-by-one",
		Invariant: "no cap is ever exceeded",
		File:      "internal/core/store/lua/decide.lua",
		Find:      "if #times >= c.limit then",
		Replace:   "if #times > c.limit then",
		Packages:  []string{"./internal/core/store"},
	},
	{
		Name:      "dispatch-without-msg-id",
		Invariant: "dispatch publishes carry Nats-Msg-Id = intent id, so a retry never yields two dispatches",
		File:      "internal/core/gatekeeper/outcome.go",
		Find:      "out.Header.Set(bus.HeaderMsgID, it.GetId())",
		Replace:   "_ = it.GetId()",
		Packages:  []string{"./internal/core/gatekeeper"},
	},
	{
		Name:      "hash-tag-dropped",
		Invariant: "cluster-safe keys: every key one script touches shares the customer's hash tag",
		File:      "internal/core/store/store.go",
		Find:      `return s.prefix + ":{c:" + customer + "}:" + suffix`,
		Replace:   `return s.prefix + ":c:" + customer + ":" + suffix`,
		Packages:  []string{"./internal/core/store"},
	},
	{
		Name:      "producer-may-publish-dispatch",
		Invariant: "producers cannot bypass the gate: only the gatekeeper publishes to hush.dispatch.>",
		File:      "deploy/nats/accounts.conf",
		Find:      `"hush.intent.>", "hush.inbound.>",`,
		Replace:   `"hush.intent.>", "hush.inbound.>", "hush.dispatch.>",`,
		Packages:  []string{"./deploy"},
	},
}
