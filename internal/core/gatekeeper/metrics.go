package gatekeeper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// Metric names as Prometheus shows them. The dashboard in deploy/grafana
// and the alerting rules use these; a test keeps them in step.
const (
	MetricDecisions           = "hush_decisions_total"
	MetricShadowSuppressions  = "hush_shadow_suppressions_total"
	MetricDecisionDuration    = "hush_decision_duration_seconds"
	MetricDeadLetters         = "hush_dead_letters_total"
	MetricRetries             = "hush_retries_total"
	MetricRedisErrors         = "hush_redis_errors_total"
	MetricNATSErrors          = "hush_nats_errors_total"
	MetricInFlight            = "hush_intents_in_flight"
	MetricPublishPending      = "hush_publish_pending"
	MetricConsumerPending     = "hush_consumer_pending"
	MetricConsumerAckPending  = "hush_consumer_ack_pending"
	MetricConsumerRedelivered = "hush_consumer_redelivered"
	MetricDeferredBacklog     = "hush_deferred_backlog"
	// MetricDecisionLatency runs from the intent's publish (its JetStream
	// timestamp) to its outcome being durably published: what a producer
	// waits, backlog included. MetricDecisionDuration starts at receipt.
	MetricDecisionLatency = "hush_decision_latency_seconds"
	// MetricConsumerOldestAge is the age of the oldest message a consumer
	// has not acknowledged: a backlog's count says how much, its age how
	// late.
	MetricConsumerOldestAge = "hush_consumer_oldest_pending_age_seconds"
	// MetricPolicyInfo is 1 for the policy version a replica runs.
	MetricPolicyInfo = "hush_policy_info"
	// MetricPolicyReloads counts reloads, applied or rejected.
	MetricPolicyReloads = "hush_policy_reloads_total"
)

// Metrics records what the gatekeeper does. It implements Observer; pass
// it in Options. It lives beside the gatekeeper because every instrument
// speaks the gatekeeper's language (outcomes, reason codes, ErrPublish);
// the telemetry package only provides the exporters it records into.
type Metrics struct {
	meter       metric.Meter
	decisions   metric.Int64Counter
	shadow      metric.Int64Counter
	duration    metric.Float64Histogram
	deadLetters metric.Int64Counter
	retries     metric.Int64Counter
	redisErrors metric.Int64Counter
	natsErrors  metric.Int64Counter
	inFlight    metric.Int64UpDownCounter
	latency     metric.Float64Histogram
	reloads     metric.Int64Counter
	pressure    *pressureMetrics
}

var _ Observer = (*Metrics)(nil)

// NewMetrics creates the instruments on mp.
func NewMetrics(mp metric.MeterProvider) (*Metrics, error) {
	// The instrumentation scope keeps the name it had before the metrics
	// moved here: Prometheus shows it as otel_scope_name on every series.
	m := &Metrics{meter: mp.Meter("github.com/hush-oss/hush/internal/platform/telemetry")}
	var err error
	counter := func(name, unit, desc string) metric.Int64Counter {
		if err != nil {
			return nil
		}
		var c metric.Int64Counter
		c, err = m.meter.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		return c
	}
	m.decisions = counter("hush.decisions", "{decision}", "Decisions published, by outcome, reason, channel and category")
	m.shadow = counter("hush.shadow_suppressions", "{decision}", "Rules in shadow mode that would have suppressed a decision")
	m.deadLetters = counter("hush.dead_letters", "{intent}", "Intents dead-lettered, by stage")
	m.retries = counter("hush.retries", "{intent}", "Intents handed back for redelivery after a transient failure, by stage")
	m.redisErrors = counter("hush.redis.errors", "{error}", "Redis commands that failed, by command")
	m.natsErrors = counter("hush.nats.errors", "{error}", "NATS failures: failed publishes, asynchronous errors, disconnects")
	m.reloads = counter("hush.policy.reloads", "{reload}", "Policy reloads, by result (applied or rejected)")
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if m.duration, err = m.meter.Float64Histogram("hush.decision.duration", metric.WithUnit("s"),
		metric.WithDescription("From receiving an intent to its outcome being durably published"),
		metric.WithExplicitBucketBoundaries(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if m.latency, err = m.meter.Float64Histogram("hush.decision.latency", metric.WithUnit("s"),
		metric.WithDescription("From the intent's publish (its JetStream timestamp) to its outcome being durably published"),
		metric.WithExplicitBucketBoundaries(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if m.pressure, err = newPressureMetrics(m.meter); err != nil {
		return nil, err
	}
	if m.inFlight, err = m.meter.Int64UpDownCounter("hush.intents.in_flight", metric.WithUnit("{intent}"),
		metric.WithDescription("Intents being decided by this replica")); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return m, nil
}

// Decided counts a published decision and its shadow would-be suppressions.
// took runs from receipt, sincePublish from the intent's publish (zero when
// unknown). A deferral is counted as outcome "deferred"; its release is
// decided, and counted, once more under its final outcome.
func (m *Metrics) Decided(d *hushv1.Decision, replayed bool, took, sincePublish time.Duration) {
	ctx := context.Background()
	outcome := policy.ShortOutcome(d.GetOutcome())
	reason, rule := "none", "none"
	if len(d.GetReasons()) > 0 {
		reason, rule = policy.ShortCode(d.GetReasons()[0].GetCode()), metricLabel(d.GetReasons()[0].GetRule())
	}
	channel, category := metricLabel(d.GetChannel()), metricLabel(d.GetCategory())
	m.decisions.Add(ctx, 1, metric.WithAttributes(
		attribute.String("outcome", outcome), attribute.String("reason", reason), attribute.String("rule", rule),
		attribute.String("channel", channel), attribute.String("category", category),
		attribute.Bool("replayed", replayed)))
	if sincePublish > 0 && !replayed {
		m.latency.Record(ctx, sincePublish.Seconds(), metric.WithAttributes(attribute.String("outcome", outcome)))
	}
	for _, r := range d.GetShadowReasons() {
		m.shadow.Add(ctx, 1, metric.WithAttributes(
			attribute.String("reason", policy.ShortCode(r.GetCode())), attribute.String("rule", metricLabel(r.GetRule())),
			attribute.String("channel", channel), attribute.String("category", category)))
	}
	m.duration.Record(ctx, took.Seconds(), metric.WithAttributes(attribute.String("outcome", outcome)))
}

// DeadLetterStages are the stages a dead letter can come from.
var DeadLetterStages = []string{"decode", "validate", "panic", "max_deliver"}

// Init records zero on every series whose labels are known before any
// traffic, so that rate() and absent-free alerts work from the first
// scrape: dead letters by stage, retries and NATS errors by kind, reloads
// by result, and decisions of every outcome for every channel and category
// of pol (reason and rule "none", not replayed).
func (m *Metrics) Init(pol *policy.Policy) {
	ctx := context.Background()
	for _, stage := range DeadLetterStages {
		m.deadLetters.Add(ctx, 0, metric.WithAttributes(attribute.String("stage", stage)))
	}
	for _, stage := range []string{"decide", "publish"} {
		m.retries.Add(ctx, 0, metric.WithAttributes(attribute.String("stage", stage)))
	}
	for _, kind := range []string{"publish", "async", "disconnect"} {
		m.natsErrors.Add(ctx, 0, metric.WithAttributes(attribute.String("kind", kind)))
	}
	for _, result := range []string{"applied", "rejected"} {
		m.reloads.Add(ctx, 0, metric.WithAttributes(attribute.String("result", result)))
	}
	if pol == nil {
		return
	}
	for _, outcome := range []hushv1.Outcome{hushv1.Outcome_OUTCOME_APPROVED, hushv1.Outcome_OUTCOME_SUPPRESSED, hushv1.Outcome_OUTCOME_DEFERRED} {
		for _, channel := range policy.Channels {
			for _, category := range pol.CategoryNames() {
				m.decisions.Add(ctx, 0, metric.WithAttributes(
					attribute.String("outcome", policy.ShortOutcome(outcome)), attribute.String("reason", "none"), attribute.String("rule", "none"),
					attribute.String("channel", channel), attribute.String("category", category), attribute.Bool("replayed", false)))
			}
		}
	}
}

// PolicyReloaded counts a reload: applied, or rejected (the previous policy
// stays in force).
func (m *Metrics) PolicyReloaded(applied bool) {
	result := "rejected"
	if applied {
		result = "applied"
	}
	m.reloads.Add(context.Background(), 1, metric.WithAttributes(attribute.String("result", result)))
}

// ObservePolicy reports the version of the policy in force (version, at
// each scrape) as hush_policy_info{version="..."} 1, one series per replica.
func (m *Metrics) ObservePolicy(version func() string) error {
	_, err := m.meter.Int64ObservableGauge("hush.policy.info",
		metric.WithDescription("The policy version this replica decides with (always 1)"),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(1, metric.WithAttributes(attribute.String("version", version())))
			return nil
		}))
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

// DeadLettered counts a dead letter by the stage that produced it.
func (m *Metrics) DeadLettered(stage string) {
	m.deadLetters.Add(context.Background(), 1, metric.WithAttributes(attribute.String("stage", metricLabel(stage))))
}

// Retried counts an intent handed back. A failed outcome publish is also a
// NATS error; Redis errors are counted where they happen, by RedisHook.
func (m *Metrics) Retried(err error) {
	stage := "decide"
	if isPublishFailure(err) {
		stage = "publish"
		m.NATSError("publish")
	}
	m.retries.Add(context.Background(), 1, metric.WithAttributes(attribute.String("stage", stage)))
}

// isPublishFailure tells a failed outcome publish: one JetStream did not
// acknowledge (ErrPublish), or one the client refused to send.
func isPublishFailure(err error) bool {
	var api *jetstream.APIError
	return errors.Is(err, ErrPublish) || errors.As(err, &api) ||
		errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrConnectionDraining) ||
		errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, jetstream.ErrTooManyStalledMsgs) || errors.Is(err, jetstream.ErrAsyncPublishTimeout)
}

// InFlight moves the count of intents being decided.
func (m *Metrics) InFlight(delta int) {
	m.inFlight.Add(context.Background(), int64(delta))
}

// NATSError counts a NATS failure of a kind ("publish", "async",
// "disconnect").
func (m *Metrics) NATSError(kind string) {
	m.natsErrors.Add(context.Background(), 1, metric.WithAttributes(attribute.String("kind", kind)))
}

// WatchNATS logs and counts a connection's asynchronous errors (permission
// violations, slow consumers) and its disconnects.
func (m *Metrics) WatchNATS(nc *nats.Conn, log *slog.Logger) {
	nc.SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		m.NATSError("async")
		log.Warn("nats", "err", err)
	})
	nc.SetDisconnectErrHandler(func(_ *nats.Conn, err error) {
		if err != nil {
			m.NATSError("disconnect")
			log.Warn("nats disconnected", "err", err)
		}
	})
}

// ObservePublishPending reports the outcome publishes awaiting their
// JetStream acknowledgement.
func (m *Metrics) ObservePublishPending(js jetstream.JetStream) error {
	_, err := m.meter.Int64ObservableGauge("hush.publish.pending", metric.WithUnit("{message}"),
		metric.WithDescription("Outcome publishes awaiting a JetStream acknowledgement"),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(int64(js.PublishAsyncPending()))
			return nil
		}))
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

// ConsumerRef names one durable consumer of a stream.
type ConsumerRef struct{ Stream, Consumer string }

// ObserveConsumer reports one durable consumer's backlog; see
// ObserveConsumers.
func (m *Metrics) ObserveConsumer(js jetstream.JetStream, stream, consumer string) error {
	return m.ObserveConsumers(js, []ConsumerRef{{stream, consumer}})
}

// ObserveConsumers reports each durable consumer's backlog at each scrape:
// messages not yet delivered (pending), delivered but not acknowledged
// (ack pending), redelivered, and the age of the oldest message not yet
// acknowledged (0 when there is none). Every replica reports the same
// numbers for a shared consumer; dashboards take the max over replicas.
func (m *Metrics) ObserveConsumers(js jetstream.JetStream, consumers []ConsumerRef) error {
	pending, err1 := m.meter.Int64ObservableGauge("hush.consumer.pending", metric.WithUnit("{message}"),
		metric.WithDescription("Messages in the stream not yet delivered to the consumer (lag)"))
	ackPending, err2 := m.meter.Int64ObservableGauge("hush.consumer.ack_pending", metric.WithUnit("{message}"),
		metric.WithDescription("Messages delivered to the consumer and not yet acknowledged"))
	redelivered, err3 := m.meter.Int64ObservableGauge("hush.consumer.redelivered", metric.WithUnit("{message}"),
		metric.WithDescription("Messages the consumer is redelivering"))
	oldest, err4 := m.meter.Float64ObservableGauge("hush.consumer.oldest_pending_age", metric.WithUnit("s"),
		metric.WithDescription("Age of the oldest message the consumer has not acknowledged (0: none)"))
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	_, err := m.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		var errs []error
		for _, ref := range consumers {
			set := metric.WithAttributes(attribute.String("stream", ref.Stream), attribute.String("consumer", ref.Consumer))
			c, err := js.Consumer(ctx, ref.Stream, ref.Consumer)
			if err != nil {
				errs = append(errs, fmt.Errorf("consumer %s/%s: %w", ref.Stream, ref.Consumer, err))
				continue
			}
			info := c.CachedInfo()
			if fresh, err := c.Info(ctx); err == nil {
				info = fresh
			}
			o.ObserveInt64(pending, int64(info.NumPending), set)
			o.ObserveInt64(ackPending, int64(info.NumAckPending), set)
			o.ObserveInt64(redelivered, int64(info.NumRedelivered), set)
			age, err := oldestPendingAge(ctx, js, ref.Stream, info)
			if err != nil {
				errs = append(errs, fmt.Errorf("consumer %s/%s: %w", ref.Stream, ref.Consumer, err))
				continue
			}
			o.ObserveFloat64(oldest, age.Seconds(), set)
		}
		return errors.Join(errs...)
	}, pending, ackPending, redelivered, oldest)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

// oldestPendingAge is the age of the first message after the consumer's
// ack floor that its filter selects: the oldest one it has not
// acknowledged, delivered or not.
func oldestPendingAge(ctx context.Context, js jetstream.JetStream, stream string, info *jetstream.ConsumerInfo) (time.Duration, error) {
	if info.NumPending == 0 && info.NumAckPending == 0 {
		return 0, nil
	}
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return 0, err
	}
	filter := info.Config.FilterSubject
	if filter == "" {
		filter = ">"
	}
	msg, err := s.GetMsg(ctx, info.AckFloor.Stream+1, jetstream.WithGetMsgSubject(filter))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return max(time.Since(msg.Time), 0), nil
}

// ObserveDeferredBacklog reports the number of deferred intents waiting for
// their release time, as counted by backlog (DeferredBacklog) at each
// scrape; until a binary registers one, the gauge is absent.
func (m *Metrics) ObserveDeferredBacklog(backlog func(context.Context) (int64, error)) error {
	_, err := m.meter.Int64ObservableGauge("hush.deferred.backlog", metric.WithUnit("{intent}"),
		metric.WithDescription("Deferred intents waiting for their release time"),
		metric.WithInt64Callback(func(ctx context.Context, o metric.Int64Observer) error {
			ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			n, err := backlog(ctx)
			if err != nil {
				return fmt.Errorf("deferred backlog: %w", err)
			}
			o.Observe(n)
			return nil
		}))
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

// DeferredBacklog counts pending deferrals for ObserveDeferredBacklog:
// each deferred intent is a message schedule on its own subject under
// filter ("hush.deferred.>") in stream, purged when it fires or is
// cancelled, so the number of subjects with a message is the backlog.
func DeferredBacklog(js jetstream.JetStream, stream, filter string) func(context.Context) (int64, error) {
	return func(ctx context.Context) (int64, error) {
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return 0, fmt.Errorf("stream %s: %w", stream, err)
		}
		info, err := s.Info(ctx, jetstream.WithSubjectFilter(filter))
		if err != nil {
			return 0, fmt.Errorf("stream %s: %w", stream, err)
		}
		return int64(len(info.State.Subjects)), nil
	}
}

// RedisHook counts failed Redis commands by name; add it to the client
// with AddHook (telemetry.InstrumentRedis takes it). A missing key (redis.Nil) and the NOSCRIPT reply that makes
// go-redis load a script are answers, not failures.
func (m *Metrics) RedisHook() redis.Hook { return redisHook{m} }

type redisHook struct{ m *Metrics }

func (h redisHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h redisHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.count(cmd, err)
		return err
	}
}

func (h redisHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, c := range cmds {
			h.count(c, c.Err())
		}
		return err
	}
}

func (h redisHook) count(cmd redis.Cmder, err error) {
	if err == nil || errors.Is(err, redis.Nil) || strings.HasPrefix(err.Error(), "NOSCRIPT") {
		return
	}
	// go-redis announces itself on every new connection (CLIENT SETINFO,
	// CLIENT MAINT_NOTIFICATIONS) and ignores the refusal of servers older
	// than 7.2, or of ACLs without them: a handshake, not a failure.
	// (FullName is "client" alone: go-redis names subcommands of CLUSTER
	// and COMMAND only, so the subcommand is read from the arguments.)
	if args := cmd.Args(); len(args) > 1 && strings.EqualFold(cmd.Name(), "client") {
		switch strings.ToLower(fmt.Sprint(args[1])) {
		case "setinfo", "maint_notifications":
			return
		}
	}
	h.m.redisErrors.Add(context.Background(), 1, metric.WithAttributes(attribute.String("command", strings.ToLower(cmd.Name()))))
}

// metricLabel keeps empty values visible in queries.
func metricLabel(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
