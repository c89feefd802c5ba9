package notifications

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
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
// Until. Suppressed alerts are counted and logged as silenced groups, not
// sent. A silence applies to alerts arriving after it is set.
type Silence struct {
	Rule, Scope string
	Until       time.Time
}

func (s Silence) matches(rule, scope string, now time.Time) bool {
	return now.Before(s.Until) && (s.Rule == "" || s.Rule == rule) && (s.Scope == "" || s.Scope == scope)
}

// Options tune the dispatcher; zero values take the defaults.
type Options struct {
	// GroupWindow: alerts of the same (rule, scope) for the same channel
	// within this window of the first one become one message. Default 1m.
	GroupWindow time.Duration
	// Samples is how many orders a message lists. Default 5.
	Samples int
	// RatePerMinute is each robot's limit, enforced over any sliding minute
	// (plus a second of margin). Default 20.
	RatePerMinute int
	// EscalateAfter: a critical alert not acknowledged this long after it
	// reached the dispatcher is re-notified once to EscalateTo. Zero or an
	// empty EscalateTo disables escalation.
	EscalateAfter time.Duration
	EscalateTo    string
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
	// QueueSize bounds Notify's queue; past it alerts are merged into their
	// groups directly (counted in Stats.Overflowed). Default 10,000.
	QueueSize int
	// RuleTitles are the rules' display names, e.g.
	// "outbound_not_collected": "出库未揽收". Default: the rule name.
	RuleTitles map[string]string
}

const (
	rateWindow = time.Minute + time.Second // a second of margin for clock and network skew
	maxBackoff = 5 * time.Minute
	// maxWait bounds Run's sleep so that a scaled (simulation) clock is
	// followed closely enough.
	maxWait = 500 * time.Millisecond
	minWait = 5 * time.Millisecond
	// sendTimeout bounds one step's sends.
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
	if o.QueueSize <= 0 {
		o.QueueSize = 10_000
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

// Stats are counters since NewDispatcher.
type Stats struct {
	Received   int64 // alerts passed to Notify
	Overflowed int64 // of those, merged directly because the queue was full
	Unrouted   int64 // alerts no route matched
	Silenced   int64 // alerts suppressed by a silence (counted, not sent)
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
	// pauses) and the times the local limiter began holding a channel's
	// messages back (they merge meanwhile).
	RateLimitedWaits int64
	// Pending is alerts grouped or queued but not yet sent or given up.
	Pending int64
	// Dropped is alerts still pending when Run stopped (logged).
	Dropped int64
}

// Dispatcher groups, rate-limits and delivers alerts to channels. Notify
// never blocks; Run does the work (or Flush, step by step, in tests).
type Dispatcher struct {
	db     *bun.DB
	log    *slog.Logger
	now    func() time.Time
	opts   Options
	routes []Route

	outlets    []*outlet
	byName     map[string]*outlet
	escalateTo *outlet

	queue    chan arrival
	wake     chan struct{}
	received atomic.Int64

	runMu sync.Mutex // one process step at a time (Run, Flush)

	mu          sync.Mutex // guards everything below and the outlets
	silences    []Silence
	escalations map[int64]escalation
	acked       map[int64]time.Time // acknowledged before being seen; value: forget after
	stats       Stats
}

// arrival is an alert and when Notify got it: its group's window and its
// escalation are measured from then, not from when Run picked it up.
type arrival struct {
	alert Alert
	at    time.Time
}

type escalation struct {
	alert Alert
	due   time.Time
}

// NewDispatcher builds a dispatcher over the channels; db (may be nil) gets
// the delivery log. It panics on wiring Validate rejects.
func NewDispatcher(db *bun.DB, channels []Channel, routes []Route, opts Options) *Dispatcher {
	if err := Validate(channels, routes, opts); err != nil {
		panic(err)
	}
	opts.defaults()
	d := &Dispatcher{
		db:          db,
		log:         opts.Logger.With("component", "notifications"),
		now:         opts.Now,
		opts:        opts,
		routes:      slices.Clone(routes),
		byName:      map[string]*outlet{},
		queue:       make(chan arrival, opts.QueueSize),
		wake:        make(chan struct{}, 1),
		escalations: map[int64]escalation{},
		acked:       map[int64]time.Time{},
	}
	for _, c := range channels {
		o := &outlet{ch: c, open: map[groupKey]*group{}}
		d.outlets = append(d.outlets, o)
		d.byName[c.Name()] = o
	}
	if opts.EscalateAfter > 0 && opts.EscalateTo != "" {
		d.escalateTo = d.byName[opts.EscalateTo]
	}
	return d
}

// Notify hands an alert over. It never blocks: past the queue's capacity
// the alert is merged into its group at once (Stats.Overflowed).
func (d *Dispatcher) Notify(ctx context.Context, a Alert) {
	d.received.Add(1)
	now := d.now()
	select {
	case d.queue <- arrival{alert: a, at: now}:
	default:
		d.mu.Lock()
		d.stats.Overflowed++
		d.admitLocked(a, now)
		d.mu.Unlock()
	}
	d.poke()
}

func (d *Dispatcher) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Acknowledged stops the escalation of an alert (if it is pending or still
// to come).
func (d *Dispatcher) Acknowledged(alertID int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.escalations[alertID]; ok {
		delete(d.escalations, alertID)
		return
	}
	d.acked[alertID] = d.now().Add(max(d.opts.EscalateAfter, time.Hour))
}

// Silence suppresses matching alerts from now until s.Until.
func (d *Dispatcher) Silence(s Silence) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.silences = append(d.silences, s)
}

// Silences are the silences in force.
func (d *Dispatcher) Silences() []Silence {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	var out []Silence
	for _, s := range d.silences {
		if now.Before(s.Until) {
			out = append(out, s)
		}
	}
	return out
}

// Stats returns the counters.
func (d *Dispatcher) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.stats
	s.Received = d.received.Load()
	for _, o := range d.outlets {
		s.Pending += int64(o.pendingAlerts())
	}
	s.Pending += int64(len(d.queue))
	return s
}

// Run delivers until ctx ends, waking when alerts arrive and when the next
// window closes, retry falls due or rate-limit slot frees by the injected
// clock (and at least every 500ms, so a scaled clock is followed). On the
// way out it sends what the rate limits allow, for at most 5 seconds;
// alerts still pending are logged and counted in Stats.Dropped.
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
			d.shutdown(ctx)
			return nil
		case <-d.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// Flush does everything due at the injected clock's now: takes in queued
// alerts, closes groups whose window has passed, raises due escalations and
// sends what each robot's rate limit allows, writing the delivery log. It
// returns when the sends are done, with the next instant something falls due
// (zero: nothing pending). Run calls it on every wake-up; tests driving a
// fake clock call it after moving the clock.
func (d *Dispatcher) Flush(ctx context.Context) time.Time {
	d.runMu.Lock()
	defer d.runMu.Unlock()
	return d.process(ctx, false)
}

func (d *Dispatcher) shutdown(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	d.runMu.Lock()
	defer d.runMu.Unlock()
	d.process(ctx, true)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.drainLocked()
	lost := 0
	for _, o := range d.outlets {
		lost += o.pendingAlerts()
		clear(o.open)
		o.closed, o.queued, o.retries = nil, nil, nil
	}
	if lost > 0 {
		d.stats.Dropped += int64(lost)
		d.log.Error("notifications not sent before shutdown", "alerts", lost)
	}
	if n := len(d.escalations); n > 0 {
		d.log.Warn("escalations not yet due abandoned at shutdown", "alerts", n)
		clear(d.escalations)
	}
}

// process is one step; runMu is held.
func (d *Dispatcher) process(ctx context.Context, force bool) time.Time {
	d.mu.Lock()
	d.drainLocked()
	now := d.now()
	d.pruneLocked(now)
	d.escalateLocked(now)
	var rows []Delivery
	work := map[*outlet][]*delivery{}
	for _, o := range d.outlets {
		rows = append(rows, d.closeGroupsLocked(o, now, force)...)
		if ds := d.planLocked(o, now, force); len(ds) > 0 {
			work[o] = ds
		}
	}
	d.mu.Unlock()
	d.writeDeliveries(ctx, rows)

	if len(work) > 0 {
		results := d.sendAll(ctx, work)
		d.mu.Lock()
		rows = d.applyLocked(results)
		d.mu.Unlock()
		d.writeDeliveries(ctx, rows)
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	return d.nextLocked(d.now())
}

func (d *Dispatcher) drainLocked() {
	for {
		select {
		case a := <-d.queue:
			d.admitLocked(a.alert, a.at)
		default:
			return
		}
	}
}

func (d *Dispatcher) pruneLocked(now time.Time) {
	d.silences = slices.DeleteFunc(d.silences, func(s Silence) bool { return !now.Before(s.Until) })
	for id, until := range d.acked {
		if now.After(until) {
			delete(d.acked, id)
		}
	}
}

// admitLocked routes an alert that arrived at now and adds it to its open
// groups.
func (d *Dispatcher) admitLocked(a Alert, now time.Time) {
	var targets []*outlet
	for _, r := range d.routes {
		if o := d.byName[r.Channel]; r.matches(a) && !slices.Contains(targets, o) {
			targets = append(targets, o)
		}
	}
	if len(targets) == 0 {
		d.stats.Unrouted++
		d.log.Debug("alert matches no route", "rule", a.Rule, "scope", a.Scope, "severity", a.Severity)
		return
	}
	silenced := slices.ContainsFunc(d.silences, func(s Silence) bool { return s.matches(a.Rule, a.Scope, now) })
	if silenced {
		d.stats.Silenced++
	} else if d.escalateTo != nil && a.Severity == SeverityCritical && a.ID != 0 {
		if _, acked := d.acked[a.ID]; acked {
			delete(d.acked, a.ID)
		} else if _, tracked := d.escalations[a.ID]; !tracked {
			d.escalations[a.ID] = escalation{alert: a, due: now.Add(d.opts.EscalateAfter)}
		}
	}
	key := groupKey{rule: a.Rule, scope: a.Scope, silenced: silenced}
	for _, o := range targets {
		d.addOpen(o, key, a, now)
	}
}

func (d *Dispatcher) addOpen(o *outlet, key groupKey, a Alert, now time.Time) {
	g := o.open[key]
	if g != nil && !now.Before(g.closeAt) {
		// Its window was over when this alert arrived (the queue was
		// drained late): close it and start a new one.
		o.closed = append(o.closed, g)
		g = nil
	}
	if g == nil {
		g = &group{key: key, kind: a.Kind, closeAt: now.Add(d.opts.GroupWindow)}
		o.open[key] = g
	}
	g.add(a, d.opts.Samples, now)
}

func (d *Dispatcher) escalateLocked(now time.Time) {
	for id, e := range d.escalations {
		if now.Before(e.due) {
			continue
		}
		delete(d.escalations, id)
		if slices.ContainsFunc(d.silences, func(s Silence) bool { return s.matches(e.alert.Rule, e.alert.Scope, now) }) {
			continue
		}
		d.stats.Escalated++
		d.addOpen(d.escalateTo, groupKey{rule: e.alert.Rule, scope: e.alert.Scope, escalation: true}, e.alert, now)
	}
}

// closeGroupsLocked moves groups whose window has passed to the send queue
// (merging with a queued group of the same key) and returns the log rows of
// silenced ones.
func (d *Dispatcher) closeGroupsLocked(o *outlet, now time.Time, force bool) []Delivery {
	closing := o.closed
	o.closed = nil
	for key, g := range o.open {
		if force || !now.Before(g.closeAt) {
			closing = append(closing, g)
			delete(o.open, key)
		}
	}
	sortGroups(closing)
	var rows []Delivery
	for _, g := range closing {
		if g.key.silenced {
			rows = append(rows, Delivery{Channel: o.ch.Name(), GroupKey: g.key.String(), AlertCount: g.count,
				Status: StatusSilenced, CreatedAt: now})
			continue
		}
		o.enqueue(g, d.opts.Samples)
	}
	return rows
}

// planLocked picks what the channel sends now: due retries (all of them when
// forced, at shutdown), then the queued groups, one message each when the
// rate limit has room for them all, else merged into digests. It reserves
// their rate-limit slots.
func (d *Dispatcher) planLocked(o *outlet, now time.Time, force bool) []*delivery {
	if now.Before(o.pausedUntil) {
		return nil
	}
	free := d.opts.RatePerMinute - o.recent(now)
	var out, waiting []*delivery
	for _, dl := range o.retries {
		if (force || !now.Before(dl.notBefore)) && dl.cost <= free {
			free -= dl.cost
			out = append(out, dl)
		} else {
			waiting = append(waiting, dl)
		}
	}
	o.retries = waiting
	if len(o.queued) > 0 && free > 0 {
		ds, left := d.pack(o, o.queued, free)
		for _, dl := range ds {
			free -= dl.cost
		}
		out = append(out, ds...)
		o.queued = left
	}
	for _, dl := range out {
		for range dl.cost {
			o.sent = append(o.sent, now)
		}
	}
	if len(o.queued) > 0 {
		if !o.held {
			o.held = true
			d.stats.RateLimitedWaits++
			d.log.Info("robot rate limit reached: merging alerts until it frees", "channel", o.ch.Name(),
				"groups", len(o.queued), "per_minute", d.opts.RatePerMinute)
		}
	} else {
		o.held = false
	}
	return out
}

// pack turns queued groups into deliveries costing at most free slots:
// one message per group if they all fit, else digests; groups not taken
// stay queued.
func (d *Dispatcher) pack(o *outlet, groups []*group, free int) ([]*delivery, []*group) {
	sortGroups(groups)
	singles := make([]*delivery, len(groups))
	total := 0
	for i, g := range groups {
		singles[i] = d.newDelivery(o, []*group{g}, d.renderGroup(g))
		total += singles[i].cost
	}
	if total <= free {
		return singles, nil
	}
	var out []*delivery
	var left []*group
	for _, gs := range d.digestParts(o, groups) {
		msg := d.renderGroup(gs[0])
		if len(gs) > 1 {
			msg = d.renderDigest(gs)
		}
		dl := d.newDelivery(o, gs, msg)
		if dl.cost <= free {
			free -= dl.cost
			out = append(out, dl)
		} else {
			left = append(left, gs...)
		}
	}
	return out, left
}

func (d *Dispatcher) newDelivery(o *outlet, gs []*group, msg Message) *delivery {
	cost := 1
	if c, ok := o.ch.(Coster); ok {
		cost = c.Cost(msg)
	}
	return &delivery{groups: gs, msg: msg, cost: min(max(cost, 1), d.opts.RatePerMinute)}
}

type sendResult struct {
	o         *outlet
	dl        *delivery
	attempted bool
	err       error
	latency   time.Duration
}

// sendAll sends each channel's deliveries in order, channels in parallel.
// After a rate-limit refusal the rest of that channel's batch is not tried.
// A batch, once started, is finished even if ctx ends (for at most
// sendTimeout), so that shutting down does not turn sends into failures.
func (d *Dispatcher) sendAll(ctx context.Context, work map[*outlet][]*delivery) []sendResult {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sendTimeout)
	defer cancel()
	var mu sync.Mutex
	var results []sendResult
	var wg sync.WaitGroup
	for o, ds := range work {
		wg.Go(func() {
			stop := false
			for _, dl := range ds {
				r := sendResult{o: o, dl: dl}
				if !stop {
					start := time.Now()
					r.err = o.ch.Send(ctx, dl.msg)
					r.latency = time.Since(start)
					r.attempted = true
					stop = errors.Is(r.err, ErrRateLimited)
				}
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return results
}

func (d *Dispatcher) applyLocked(results []sendResult) []Delivery {
	now := d.now()
	var rows []Delivery
	for _, r := range results {
		o, dl := r.o, r.dl
		if !r.attempted {
			o.requeue(dl, d.opts.Samples)
			continue
		}
		dl.attempt++
		n := dl.alerts()
		row := Delivery{Channel: o.ch.Name(), GroupKey: dl.key(), AlertCount: n, Attempt: dl.attempt,
			CreatedAt: now, LatencyMS: r.latency.Milliseconds()}
		switch {
		case r.err == nil:
			row.Status = StatusSent
			if d.opts.OnSent != nil {
				for _, g := range dl.groups {
					if len(g.samples) > 0 {
						d.opts.OnSent(o.ch.Name(), g.samples[0].RaisedAt, g.count)
					}
				}
			}
			d.stats.Sent++
			d.stats.SentAlerts += int64(n)
			d.stats.Grouped += int64(n - 1)
		case errors.Is(r.err, ErrRateLimited):
			wait, _ := RetryAfter(r.err)
			if wait <= 0 {
				wait = time.Minute
			}
			if until := now.Add(wait); until.After(o.pausedUntil) {
				o.pausedUntil = until
			}
			row.Status, row.Error, row.RetryAt = StatusRateLimited, r.err.Error(), o.pausedUntil
			d.stats.RateLimitedWaits++
			o.requeue(dl, d.opts.Samples)
			d.log.Warn("robot rate limited: pausing channel, merging meanwhile", "channel", o.ch.Name(),
				"until", o.pausedUntil, "err", r.err)
		case errors.Is(r.err, ErrPermanent) || dl.attempt >= d.opts.MaxAttempts:
			row.Status, row.Error = StatusFailed, r.err.Error()
			d.stats.Failed++
			d.stats.FailedAlerts += int64(n)
			d.log.Error("notification not delivered, giving up", "channel", o.ch.Name(), "group", row.GroupKey,
				"alerts", n, "attempt", dl.attempt, "permanent", errors.Is(r.err, ErrPermanent), "err", r.err)
		default:
			dl.notBefore = now.Add(d.backoff(dl.attempt))
			o.retries = append(o.retries, dl)
			row.Status, row.Error, row.RetryAt = StatusFailed, r.err.Error(), dl.notBefore
			d.stats.Retries++
			d.log.Warn("notification failed, will retry", "channel", o.ch.Name(), "group", row.GroupKey,
				"attempt", dl.attempt, "retry_at", dl.notBefore, "err", r.err)
		}
		rows = append(rows, row)
	}
	return rows
}

func (d *Dispatcher) backoff(attempt int) time.Duration {
	wait := d.opts.RetryBackoff
	for i := 1; i < attempt && wait < maxBackoff; i++ {
		wait *= 2
	}
	return min(wait, maxBackoff)
}

// nextLocked is the earliest instant after now something falls due.
func (d *Dispatcher) nextLocked(now time.Time) time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, o := range d.outlets {
		for _, g := range o.open {
			consider(g.closeAt)
		}
		if len(o.closed) > 0 {
			consider(now)
		}
		ready := len(o.queued) > 0
		for _, dl := range o.retries {
			if dl.notBefore.After(now) {
				consider(dl.notBefore)
			} else {
				ready = true
			}
		}
		if ready {
			if now.Before(o.pausedUntil) {
				consider(o.pausedUntil)
			} else {
				consider(o.slotFreeAt(now))
			}
		}
	}
	for _, e := range d.escalations {
		consider(e.due)
	}
	return next
}

// outlet is a channel's state.
type outlet struct {
	ch          Channel
	open        map[groupKey]*group // collecting, until their window closes
	closed      []*group            // closed while draining the queue, not yet queued
	queued      []*group            // closed, waiting for a rate-limit slot; merged by key
	retries     []*delivery         // failed transiently, waiting for notBefore
	sent        []time.Time         // send attempts within the last rateWindow
	pausedUntil time.Time           // the robot said rate limited
	held        bool                // the local limiter is holding queued groups back
}

func (o *outlet) recent(now time.Time) int {
	i := 0
	for i < len(o.sent) && now.Sub(o.sent[i]) >= rateWindow {
		i++
	}
	o.sent = o.sent[i:]
	return len(o.sent)
}

func (o *outlet) slotFreeAt(now time.Time) time.Time {
	if o.recent(now) == 0 {
		return now.Add(minWait)
	}
	return o.sent[0].Add(rateWindow)
}

func (o *outlet) enqueue(g *group, samples int) {
	for _, q := range o.queued {
		if q.key == g.key {
			q.merge(g, samples)
			return
		}
	}
	o.queued = append(o.queued, g)
}

func (o *outlet) requeue(dl *delivery, samples int) {
	for _, g := range dl.groups {
		o.enqueue(g, samples)
	}
}

func (o *outlet) pendingAlerts() int {
	n := 0
	for _, g := range append(slices.Collect(maps.Values(o.open)), o.closed...) {
		if !g.key.silenced {
			n += g.count
		}
	}
	for _, g := range o.queued {
		n += g.count
	}
	for _, dl := range o.retries {
		n += dl.alerts()
	}
	return n
}

type groupKey struct {
	rule, scope string
	silenced    bool
	escalation  bool
}

func (k groupKey) String() string {
	s := k.rule + "|" + k.scope
	if k.escalation {
		s = "escalation:" + s
	}
	return s
}

// group is alerts of one (rule, scope) for one channel.
type group struct {
	key         groupKey
	kind        string
	severity    string // the highest seen
	count       int
	samples     []Alert
	first, last time.Time
	closeAt     time.Time
}

func (g *group) add(a Alert, samples int, now time.Time) {
	g.count++
	if SeverityRank(a.Severity) > SeverityRank(g.severity) || g.severity == "" {
		g.severity = a.Severity
	}
	if len(g.samples) < samples {
		g.samples = append(g.samples, a)
	}
	at := a.RaisedAt
	if at.IsZero() {
		at = now
	}
	if g.first.IsZero() || at.Before(g.first) {
		g.first = at
	}
	if at.After(g.last) {
		g.last = at
	}
}

func (g *group) merge(o *group, samples int) {
	g.count += o.count
	if SeverityRank(o.severity) > SeverityRank(g.severity) {
		g.severity = o.severity
	}
	for _, a := range o.samples {
		if len(g.samples) >= samples {
			break
		}
		g.samples = append(g.samples, a)
	}
	if !o.first.IsZero() && (g.first.IsZero() || o.first.Before(g.first)) {
		g.first = o.first
	}
	if o.last.After(g.last) {
		g.last = o.last
	}
}

// sortGroups orders by severity (highest first), then first seen, then key.
func sortGroups(gs []*group) {
	slices.SortStableFunc(gs, func(a, b *group) int {
		if ra, rb := SeverityRank(a.severity), SeverityRank(b.severity); ra != rb {
			return rb - ra
		}
		if c := a.first.Compare(b.first); c != 0 {
			return c
		}
		return strings.Compare(a.key.String(), b.key.String())
	})
}

// delivery is one robot message and its tries.
type delivery struct {
	groups    []*group
	msg       Message
	cost      int
	attempt   int
	notBefore time.Time
}

func (dl *delivery) alerts() int {
	n := 0
	for _, g := range dl.groups {
		n += g.count
	}
	return n
}

func (dl *delivery) key() string {
	keys := make([]string, len(dl.groups))
	for i, g := range dl.groups {
		keys[i] = g.key.String()
	}
	return strings.Join(keys, ", ")
}
