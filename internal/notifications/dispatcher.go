package notifications

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"
)

// Alert is one raised alert, as the rules engine hands it over.
type Alert struct {
	ID       int64
	Rule     string // stable rule name, e.g. "outbound_not_collected"
	Kind     string // e.g. "late_ship"
	Severity string // info | warning | critical
	Order    string // "tmall/123"
	// Scope is what the alert is about beyond the order, e.g. a warehouse
	// "GZ-03" or a channel. A "warehouse:", "channel:", "carrier:" or
	// "store:" prefix is shown as 仓库 / 渠道 / 快递 / 店铺.
	Scope    string
	Summary  string
	Link     string
	RaisedAt time.Time
}

// Route sends the alerts it matches to a channel. Empty Kinds or Scopes
// match all; MinSeverity "" matches all. An alert goes to every channel a
// route matches it for.
type Route struct {
	Channel     string
	MinSeverity string
	Kinds       []string
	Scopes      []string
}

func (r Route) matches(a Alert) bool {
	if r.MinSeverity != "" && SeverityRank(a.Severity) < SeverityRank(r.MinSeverity) {
		return false
	}
	if len(r.Kinds) > 0 && !slices.Contains(r.Kinds, a.Kind) {
		return false
	}
	if len(r.Scopes) > 0 && !slices.Contains(r.Scopes, a.Scope) {
		return false
	}
	return true
}

// Silence suppresses alerts of Rule in Scope (either empty: any) until
// Until. It applies to everything not yet sent when a message is about to
// go: suppressed alerts are counted and logged as silenced groups, never
// sent.
type Silence struct {
	Rule, Scope string
	Until       time.Time
}

func (s Silence) matches(rule, scope string) bool {
	return (s.Rule == "" || s.Rule == rule) && (s.Scope == "" || s.Scope == scope)
}

// Options tune the dispatcher; zero values take the defaults.
type Options struct {
	// GroupWindow: alerts of the same (rule, scope) for the same channel
	// within this window of the first one become one message. Default 1m.
	GroupWindow time.Duration
	// Samples is how many orders a message lists. Default 5.
	Samples int
	// RatePerMinute is each robot's limit, enforced over any sliding minute
	// (plus a second of margin), across every node sending to it. Default
	// 20.
	RatePerMinute int
	// EscalateAfter: a critical alert not acknowledged this long after it
	// reached the dispatcher is re-notified once to EscalateTo (after a
	// group window, so escalations due together go together). Zero or an
	// empty EscalateTo disables escalation.
	EscalateAfter time.Duration
	EscalateTo    string
	// Silences reports the silences in force. The sender asks on every
	// step with something to send, so a silence saved through any node
	// holds for every node's sends; an error holds the step back. Nil: no
	// silences.
	Silences func(ctx context.Context) ([]Silence, error)
	// Now is the clock every window and wait is measured with. Default
	// time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// MaxAttempts bounds tries of a message failing transiently. Default 6.
	MaxAttempts int
	// RetryBackoff is the wait after the first transient failure, doubled
	// after each further one, at most 5 minutes. Default 2s.
	RetryBackoff time.Duration
	// OnSent is told of each group sent: the channel, when its first
	// alert was raised and how many it carried (notification latency).
	OnSent func(channel string, firstRaised time.Time, alerts int)
	// RuleTitles are the rules' display names, e.g.
	// "outbound_not_collected": "出库未揽收". Default: the rule name.
	RuleTitles map[string]string
	// Retention is how long finished outbox rows are kept. Default 7 days.
	Retention time.Duration
	// GiveUpAfter: a notification still not sent this long after it fell
	// due (its robot gone from the configuration, or refusing for a day)
	// is given up. Default 24h.
	GiveUpAfter time.Duration
}

const (
	rateWindow = time.Minute + time.Second // a second of margin for clock and network skew
	maxBackoff = 5 * time.Minute
	// maxWait bounds Run's sleep: other nodes' rows are found by polling,
	// and a scaled (simulation) clock is followed closely enough.
	maxWait = 500 * time.Millisecond
	minWait = 5 * time.Millisecond
	// leaseWait is how soon a channel another node is sending for is
	// looked at again.
	leaseWait = 200 * time.Millisecond
	// failWait is how soon a step that failed on the database is tried
	// again.
	failWait = time.Second
	// sendTimeout bounds one robot message.
	sendTimeout = 30 * time.Second
)

func (o *Options) defaults() {
	if o.GroupWindow <= 0 {
		o.GroupWindow = time.Minute
	}
	if o.Samples == 0 {
		o.Samples = 5
	}
	if o.RatePerMinute <= 0 {
		o.RatePerMinute = 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 6
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = 2 * time.Second
	}
	if o.Retention <= 0 {
		o.Retention = 7 * 24 * time.Hour
	}
	if o.GiveUpAfter <= 0 {
		o.GiveUpAfter = 24 * time.Hour
	}
}

// Validate checks the wiring NewDispatcher is given: unique channel names,
// routes and EscalateTo naming known channels, known severities.
func Validate(channels []Channel, routes []Route, opts Options) error {
	names := map[string]bool{}
	for _, c := range channels {
		if c == nil {
			return errors.New("notifications: nil channel")
		}
		if c.Name() == "" {
			return fmt.Errorf("notifications: a %s channel has no name", c.Kind())
		}
		if names[c.Name()] {
			return fmt.Errorf("notifications: two channels named %q", c.Name())
		}
		names[c.Name()] = true
	}
	for i, r := range routes {
		if err := ValidateRoute(r, names); err != nil {
			return fmt.Errorf("notifications: route %d: %w", i, err)
		}
	}
	if opts.EscalateTo != "" && !names[opts.EscalateTo] {
		return fmt.Errorf("notifications: EscalateTo names unknown channel %q", opts.EscalateTo)
	}
	return nil
}

// ValidateRoute checks one route against the channel names there are.
func ValidateRoute(r Route, channels map[string]bool) error {
	if !channels[r.Channel] {
		return fmt.Errorf("unknown channel %q", r.Channel)
	}
	if r.MinSeverity != "" && SeverityRank(r.MinSeverity) == 0 {
		return fmt.Errorf("unknown severity %q (info, warning, critical)", r.MinSeverity)
	}
	return nil
}

// Stats count what this dispatcher did since NewDispatcher (other nodes
// count their own).
type Stats struct {
	Received   int64 // alerts passed to Notify
	Unrouted   int64 // alerts no route matched
	Silenced   int64 // notifications suppressed by a silence (counted, not sent)
	Folded     int64 // alert notifications folded into their incident's message
	Escalated  int64 // critical alerts re-notified to EscalateTo
	Sent       int64 // robot messages delivered
	SentAlerts int64 // alerts covered by delivered messages (per channel)
	// Grouped is alerts that rode along in another alert's message:
	// SentAlerts minus Sent.
	Grouped      int64
	Failed       int64 // messages given up: permanent refusal or attempts exhausted
	FailedAlerts int64
	Retries      int64 // transient failures scheduled for another attempt
	// RateLimitedWaits counts robot rate-limit refusals (the channel then
	// pauses) and the times the limiter began holding a channel's
	// messages back (they merge meanwhile).
	RateLimitedWaits int64
}

// Dispatcher groups, rate-limits and delivers alerts to channels through
// the outbox table: Notify writes rows, Run (or Flush, step by step, in
// tests) sends them. Nothing lives only in memory, so a crash, a shutdown
// or a new dispatcher built on a reload loses nothing; any number of
// dispatchers, on any nodes, may run over the same channels.
type Dispatcher struct {
	db         *bun.DB
	log        *slog.Logger
	now        func() time.Time
	opts       Options
	routes     []Route
	channels   []Channel
	names      []string
	escalateTo Channel

	wake     chan struct{}
	received atomic.Int64

	runMu sync.Mutex // one step at a time (Run, Flush)

	mu    sync.Mutex // guards stats and held
	stats Stats
	held  map[string]bool // channels whose due messages the limiter holds back
}

// NewDispatcher builds a dispatcher over the channels, on db's outbox and
// delivery log. It panics on wiring Validate rejects.
func NewDispatcher(db *bun.DB, channels []Channel, routes []Route, opts Options) *Dispatcher {
	if db == nil {
		panic("notifications: NewDispatcher needs the database")
	}
	if err := Validate(channels, routes, opts); err != nil {
		panic(err)
	}
	opts.defaults()
	d := &Dispatcher{
		db:       db,
		log:      opts.Logger.With("component", "notifications"),
		now:      opts.Now,
		opts:     opts,
		routes:   slices.Clone(routes),
		channels: slices.Clone(channels),
		wake:     make(chan struct{}, 1),
		held:     map[string]bool{},
	}
	for _, c := range channels {
		d.names = append(d.names, c.Name())
		if opts.EscalateAfter > 0 && c.Name() == opts.EscalateTo {
			d.escalateTo = c
		}
	}
	return d
}

func (d *Dispatcher) byName(name string) Channel {
	for _, c := range d.channels {
		if c.Name() == name {
			return c
		}
	}
	return nil
}

// Notify takes alerts in, in one transaction: a row per channel a route
// matches, and for a critical alert an escalation row, due after
// EscalateAfter. A row whose (alert, channel, purpose) is in the outbox
// already is skipped, so taking the same alert in twice (a redelivered bus
// message) changes nothing. Once Notify returns the alerts are durable.
func (d *Dispatcher) Notify(ctx context.Context, as ...Alert) error {
	now := d.now()
	var rows []outboxRow
	unrouted := 0
	for _, a := range as {
		var targets []string
		for _, r := range d.routes {
			if r.matches(a) && !slices.Contains(targets, r.Channel) {
				targets = append(targets, r.Channel)
			}
		}
		if len(targets) == 0 {
			unrouted++
			d.log.Debug("alert matches no route", "rule", a.Rule, "scope", a.Scope, "severity", a.Severity)
			continue
		}
		if a.RaisedAt.IsZero() {
			a.RaisedAt = now
		}
		for _, ch := range targets {
			rows = append(rows, newRow(a, ch, groupKey{rule: a.Rule, scope: a.Scope}, now, now))
		}
		if d.escalateTo != nil && a.Severity == SeverityCritical && a.ID != 0 {
			rows = append(rows, newRow(a, d.escalateTo.Name(), groupKey{rule: a.Rule, scope: a.Scope, escalation: true},
				now, now.Add(d.opts.EscalateAfter)))
		}
	}
	if err := insertRows(ctx, d.db, rows, now, d.opts.GroupWindow); err != nil {
		return fmt.Errorf("notifications: take in %d alerts: %w", len(as), err)
	}
	d.received.Add(int64(len(as)))
	d.mu.Lock()
	d.stats.Unrouted += int64(unrouted)
	d.mu.Unlock()
	d.poke()
	return nil
}

// Incident is an incident opened or resolved, for the robots: one message
// each, instead of one per member alert (those are folded).
type Incident struct {
	ID int64
	// Event is "opened" or "resolved".
	Event string
	// Cause is courier_stopped, signature_failures or channel_silent; Key
	// what it is about (HZ-01/SF, a source, a channel).
	Cause, Key string
	// Scope routes the message like an alert's (the warehouse, else the
	// key).
	Scope    string
	Severity string
	// Start, LastSeen, the members and the blast radius, as shown.
	Start, LastSeen time.Time
	Members, Orders int
	Money           int64 // fen
	Shops, Channels []string
	ResolvedBy      string
	Link            string
	// Kinds are the member alerts' kinds: a route for any of them (or for
	// the cause) gets the incident.
	Kinds []string
}

// NotifyIncidents takes incident messages in: a row per channel a route
// matches (by the cause or a member kind as the kind, Severity and Scope),
// due at once. Taking the same incident event in twice changes nothing.
func (d *Dispatcher) NotifyIncidents(ctx context.Context, is ...Incident) error {
	now := d.now()
	var rows []outboxRow
	for _, in := range is {
		var targets []string
		for _, kind := range append([]string{in.Cause}, in.Kinds...) {
			probe := Alert{Kind: kind, Severity: in.Severity, Scope: in.Scope}
			for _, r := range d.routes {
				if r.matches(probe) && !slices.Contains(targets, r.Channel) {
					targets = append(targets, r.Channel)
				}
			}
		}
		msg := d.renderIncident(in)
		for _, ch := range targets {
			rows = append(rows, outboxRow{Channel: ch, Purpose: purposeIncident, IncidentID: in.ID, IncidentEvent: in.Event,
				GroupKey: fmt.Sprintf("incident:%d:%s", in.ID, in.Event), Rule: in.Cause, Kind: in.Cause, Severity: in.Severity,
				Scope: in.Scope, Summary: msg.Title, Body: msg.Markdown, RaisedAt: in.Start})
		}
	}
	if err := insertIncidentRows(ctx, d.db, rows, now); err != nil {
		return fmt.Errorf("notifications: take in %d incidents: %w", len(is), err)
	}
	d.poke()
	return nil
}

func newRow(a Alert, channel string, key groupKey, now, earliest time.Time) outboxRow {
	purpose := purposeAlert
	if key.escalation {
		purpose = purposeEscalation
	}
	return outboxRow{AlertID: a.ID, Channel: channel, Purpose: purpose, GroupKey: key.String(), Rule: a.Rule, Kind: a.Kind,
		Severity: a.Severity, OrderRef: a.Order, Scope: a.Scope, Summary: a.Summary, Link: a.Link, RaisedAt: a.RaisedAt,
		ReceivedAt: now, earliest: earliest}
}

func (d *Dispatcher) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Acknowledged cancels the escalations of alerts people acknowledged or
// resolved, whether pending or still to come (an acknowledgement taken in
// before its alert).
func (d *Dispatcher) Acknowledged(ctx context.Context, alertIDs ...int64) error {
	if len(alertIDs) == 0 {
		return nil
	}
	escalateTo := ""
	if d.escalateTo != nil {
		escalateTo = d.escalateTo.Name()
	}
	err := d.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		return cancelEscalations(ctx, tx, alertIDs, escalateTo, d.now())
	})
	if err != nil {
		return fmt.Errorf("notifications: acknowledge %d alerts: %w", len(alertIDs), err)
	}
	return nil
}

// Stats returns the counters.
func (d *Dispatcher) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.stats
	s.Received = d.received.Load()
	return s
}

// Pending counts the notifications of this dispatcher's channels not yet
// sent, given up, silenced or cancelled, whichever node took them in.
func (d *Dispatcher) Pending(ctx context.Context) (int, error) {
	return countPending(ctx, d.db, d.names)
}

// Run sends until ctx ends, waking when alerts arrive and when the next
// window closes, retry falls due or rate-limit slot frees by the injected
// clock, and at least every 500ms (other nodes write the outbox too, and a
// scaled clock must be followed). It returns without sending early: what
// is pending stays in the outbox for the next dispatcher, here or on
// another node.
func (d *Dispatcher) Run(ctx context.Context) error {
	for {
		next := d.Flush(ctx)
		wait := maxWait
		if !next.IsZero() {
			wait = min(max(next.Sub(d.now()), minWait), maxWait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-d.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// Prune gives up notifications still pending GiveUpAfter past their due
// time and deletes finished ones older than Retention, of every channel
// (one deleted or renamed since has no dispatcher of its own). Any node
// may run it, now and then.
func (d *Dispatcher) Prune(ctx context.Context) {
	deleted, abandoned, err := pruneOutbox(ctx, d.db, d.now(), d.opts.Retention, d.opts.GiveUpAfter)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Error("prune notification outbox", "err", err)
		}
		return
	}
	if abandoned > 0 {
		d.log.Error("notifications given up: not sent in time", "alerts", abandoned, "give_up_after", d.opts.GiveUpAfter)
	}
	if deleted > 0 {
		d.log.Debug("notification outbox pruned", "rows", deleted)
	}
}

// Flush does everything due at the injected clock's now, for each channel
// in parallel: sends the rows whose window closed, escalation came due or
// retry is due, as the robot's rate limit allows, and writes the delivery
// log. It returns when the sends are done, with the next instant something
// falls due (zero: nothing pending). Run calls it on every wake-up; tests
// driving a fake clock call it after moving the clock.
func (d *Dispatcher) Flush(ctx context.Context) time.Time {
	d.runMu.Lock()
	defer d.runMu.Unlock()
	now := d.now()
	dues, err := pendingDue(ctx, d.db, d.names)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Error("notifications: read the outbox", "err", err)
		}
		return now.Add(failWait)
	}
	var mu sync.Mutex
	var next time.Time
	consider := func(t time.Time) {
		mu.Lock()
		defer mu.Unlock()
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	var wg sync.WaitGroup
	for _, ch := range d.channels {
		due, ok := dues[ch.Name()]
		switch {
		case !ok:
		case due.After(now):
			consider(due)
		default:
			wg.Go(func() { consider(d.step(ctx, ch, now)) })
		}
	}
	wg.Wait()
	return next
}

func (d *Dispatcher) backoff(attempt int) time.Duration {
	wait := d.opts.RetryBackoff
	for i := 1; i < attempt && wait < maxBackoff; i++ {
		wait *= 2
	}
	return min(wait, maxBackoff)
}

// hold notes whether the limiter holds a channel's due messages back,
// counting and logging each time it starts to.
func (d *Dispatcher) hold(channel string, held bool, groups int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if held && !d.held[channel] {
		d.stats.RateLimitedWaits++
		d.log.Info("robot rate limit reached: merging alerts until it frees", "channel", channel,
			"groups", groups, "per_minute", d.opts.RatePerMinute)
	}
	d.held[channel] = held
}
