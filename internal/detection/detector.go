package detection

import (
	"context"

	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/domain/rules"
	"github.com/towerhq/tower/domain/twin"
	"github.com/towerhq/tower/events"
	"github.com/towerhq/tower/internal/alerts"
	"github.com/towerhq/tower/internal/metrics"
	"github.com/towerhq/tower/internal/timers"
	"github.com/towerhq/tower/internal/workitems"
)

// Change is one twin a projection batch changed, with the new events it
// applied to it.
type Change struct {
	Twin   *twin.Twin
	Events []order.Event
}

// Outcome is what detection did in one transaction.
type Outcome struct {
	Alerts    []events.AlertSnapshot
	WorkItems []events.WorkItemSnapshot
	// AddTags are the tags matched rules give orders. The projection owns
	// orders: Process leaves them to its caller, the projection, to write
	// in the same transaction; Fire has its TwinSource write them.
	AddTags map[order.Key][]string
	// Tags are the tagged orders' tags after Fire wrote AddTags.
	Tags map[order.Key][]string
}

// TwinSource is the projection, as deadline timers need it: they fire
// outside a projection batch, and only the projection writes twins.
type TwinSource interface {
	// Current locks the twins of keys in tx, without waiting, and returns
	// them as of every stored event of their orders. Those another
	// transaction holds come back in busy; unknown orders in neither.
	Current(ctx context.Context, tx bun.Tx, keys []order.Key) (twins map[order.Key]*twin.Twin, busy map[order.Key]bool, err error)
	// AddTags adds tags to orders locked by Current and returns their
	// tags after.
	AddTags(ctx context.Context, tx bun.Tx, add map[order.Key][]string) (map[order.Key][]string, error)
}

// Detector evaluates the rules. Safe for concurrent use; the projection
// calls it serially.
type Detector struct {
	m     *metrics.Metrics
	log   *slog.Logger
	twins TwinSource

	mu     sync.Mutex
	rev    int64
	loaded bool
	progs  []*rules.Program
	byName map[string]*rules.Program
	over   overrides
}

// New builds a detector that reads the twins deadlines judge from twins;
// rules load on first use.
func New(m *metrics.Metrics, log *slog.Logger, twins TwinSource) *Detector {
	if twins == nil {
		panic("detection.New: nil TwinSource")
	}
	return &Detector{m: m, log: log.With("component", "detect"), twins: twins, byName: map[string]*rules.Program{}}
}

// refresh reloads and compiles the rules when any changed (on any node):
// an edit takes effect on the next event without a restart.
func (d *Detector) refresh(ctx context.Context, db bun.IDB) ([]*rules.Program, error) {
	rev, err := Revision(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("rules revision: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.loaded && rev == d.rev {
		return d.progs, nil
	}
	recs, err := list(ctx, db, "")
	if err != nil {
		return nil, err
	}
	progs := make([]*rules.Program, 0, len(recs))
	byName := make(map[string]*rules.Program, len(recs))
	for _, rec := range recs {
		if !rec.Rule.Enabled {
			continue
		}
		p, err := rules.Compile(rec.Rule)
		if err != nil {
			// Saved rules compile; one that no longer does is skipped, loudly.
			d.log.Error("rule does not compile; skipped", "rule", rec.Rule.Name, "err", err)
			continue
		}
		progs = append(progs, p)
		byName[p.Name()] = p
	}
	over, err := loadOverrides(ctx, db)
	if err != nil {
		return nil, err
	}
	d.progs, d.byName, d.over, d.rev, d.loaded = progs, byName, over, rev, true
	d.log.Info("rules loaded", "revision", rev, "enabled", len(progs))
	return progs, nil
}

// timerKey names the deadline timer of a rule on an order.
func timerKey(rule string, k order.Key) string {
	return "rule:" + rule + ":" + k.Channel + "/" + k.OrderNo
}

type deadline struct {
	Rule    string `json:"rule"`
	Channel string `json:"channel"`
	OrderNo string `json:"orderNo"`
}

// hit is a rule that matched an order.
type hit struct {
	p     *rules.Program
	twin  *twin.Twin
	since time.Time
}

// Process evaluates the rules on a projection batch, inside its transaction.
func (d *Detector) Process(ctx context.Context, tx bun.Tx, changes []Change, now time.Time) (Outcome, error) {
	var out Outcome
	progs, err := d.refresh(ctx, tx)
	if err != nil || len(progs) == 0 {
		return out, err
	}
	d.mu.Lock()
	over := d.over
	d.mu.Unlock()
	feats, err := features(ctx, tx, changes)
	if err != nil {
		return out, err
	}
	var (
		hits     []hit
		schedule []timers.Timer
		cancel   []string
		resolve  []alerts.Resolution
		counts   = map[string]*ruleCount{}
	)
	count := func(name string) *ruleCount {
		c := counts[name]
		if c == nil {
			c = &ruleCount{}
			counts[name] = c
		}
		return c
	}
	for _, ch := range changes {
		k := ch.Twin.Key
		f := feats[k]
		for i := range ch.Events {
			e := &ch.Events[i]
			env := rules.NewEnv(e, ch.Twin, f, now)
			for _, p := range progs {
				if p.Cancels(e.Kind) {
					cancel = append(cancel, timerKey(p.Name(), k))
					resolve = append(resolve, alerts.Resolution{Rule: p.Name(), Order: k, By: "auto: " + string(e.Kind)})
				}
				if !p.Listens(e.Kind) {
					continue
				}
				if p.Deadline() {
					due, ok, err := p.Due(env)
					if err != nil {
						count(p.Name()).failed(err)
						continue
					}
					// A wait configured for the order's warehouse, courier
					// or channel replaces the rule's own.
					if r := p.Rule(); ok && r.After > 0 {
						if a := over.after(r.Name, ch.Twin, r.After); a != r.After {
							due = e.OccurredAt.Add(a)
						}
					}
					if ok {
						payload, _ := json.Marshal(deadline{Rule: p.Name(), Channel: k.Channel, OrderNo: k.OrderNo})
						schedule = append(schedule, timers.Timer{Key: timerKey(p.Name(), k), Kind: "rule", Payload: payload, DueAt: due})
					}
					continue
				}
				ok, err := p.EvalRef(&env)
				if err != nil {
					count(p.Name()).failed(err)
					continue
				}
				if ok {
					count(p.Name()).hits++
					hits = append(hits, hit{p: p, twin: ch.Twin, since: e.OccurredAt})
				}
			}
		}
	}
	// A timer cancelled and scheduled in the same batch (the awaited event
	// came with the one that starts the wait) stays cancelled.
	if len(cancel) > 0 {
		schedule = slices.DeleteFunc(schedule, func(t timers.Timer) bool { return slices.Contains(cancel, t.Key) })
		if _, err := timers.Cancel(ctx, tx, cancel...); err != nil {
			return out, err
		}
	}
	if len(schedule) > 0 {
		if err := timers.Schedule(ctx, tx, schedule...); err != nil {
			return out, err
		}
	}
	resolved, err := alerts.Resolve(ctx, tx, resolve, now)
	if err != nil {
		return out, err
	}
	out, err = d.act(ctx, tx, hits, now)
	if err != nil {
		return out, err
	}
	out.Alerts = append(resolved, out.Alerts...)
	return out, recordCounts(ctx, tx, counts, now)
}

// Fire evaluates deadline rules whose timers came due, inside the timer
// scheduler's transaction.
func (d *Detector) Fire(ctx context.Context, tx bun.Tx, fired []timers.Fired, now time.Time) (Outcome, error) {
	progs, err := d.refresh(ctx, tx)
	if err != nil || len(progs) == 0 {
		return Outcome{}, err
	}
	d.mu.Lock()
	byName := d.byName
	d.mu.Unlock()
	var keys []order.Key
	deads := make([]deadline, 0, len(fired))
	for _, f := range fired {
		var dl deadline
		if err := json.Unmarshal(f.Payload, &dl); err != nil {
			d.log.Error("bad deadline timer payload; dropped", "key", f.Key, "err", err)
			deads = append(deads, deadline{})
			continue
		}
		deads = append(deads, dl)
		keys = append(keys, order.Key{Channel: dl.Channel, OrderNo: dl.OrderNo})
	}
	// Judged on everything Tower has stored, not only on what the
	// projection has folded in yet (see TwinSource.Current).
	twins, busy, err := d.twins.Current(ctx, tx, keys)
	if err != nil {
		return Outcome{}, fmt.Errorf("deadline twins: %w", err)
	}
	// An order the projection is writing right now is judged a moment
	// later: its timer goes back as it was, instead of this transaction
	// waiting on the order (or failing the whole batch).
	var later []timers.Timer
	for i, f := range fired {
		k := order.Key{Channel: deads[i].Channel, OrderNo: deads[i].OrderNo}
		if busy[k] {
			t := f.Timer
			t.DueAt = maxTime(t.DueAt, now.Add(busyRetry))
			later = append(later, t)
		}
	}
	if len(later) > 0 {
		if err := timers.Schedule(ctx, tx, later...); err != nil {
			return Outcome{}, err
		}
		if d.m != nil {
			d.m.DeadlinesDeferred.Add(float64(len(later)))
		}
	}
	counts := map[string]*ruleCount{}
	var hits []hit
	for i, f := range fired {
		dl := deads[i]
		p := byName[dl.Rule]
		t := twins[order.Key{Channel: dl.Channel, OrderNo: dl.OrderNo}]
		if p == nil || t == nil {
			continue // rule disabled or deleted since, no such order, or put back
		}
		c := counts[dl.Rule]
		if c == nil {
			c = &ruleCount{}
			counts[dl.Rule] = c
		}
		env := rules.NewEnv(nil, t, rules.Features{}, now)
		ok, err := p.EvalRef(&env)
		if err != nil {
			c.failed(err)
			continue
		}
		if ok {
			c.hits++
			hits = append(hits, hit{p: p, twin: t, since: f.DueAt})
		}
		if d.m != nil {
			d.m.DeadlineLag.Observe(f.Lag.Seconds())
		}
	}
	out, err := d.act(ctx, tx, hits, now)
	if err != nil {
		return out, err
	}
	if out.Tags, err = d.twins.AddTags(ctx, tx, out.AddTags); err != nil {
		return out, fmt.Errorf("deadline tags: %w", err)
	}
	return out, recordCounts(ctx, tx, counts, now)
}

// act applies matched rules: work queues and alerts; the tags to add are
// returned in AddTags.
func (d *Detector) act(ctx context.Context, tx bun.Tx, hits []hit, now time.Time) (Outcome, error) {
	out := Outcome{AddTags: map[order.Key][]string{}}
	if len(hits) == 0 {
		return out, nil
	}
	var route []workitems.Route
	var raise []alerts.Condition
	for _, h := range hits {
		r := h.p.Rule()
		k := h.twin.Key
		if len(r.Actions.Tags) > 0 {
			out.AddTags[k] = append(out.AddTags[k], r.Actions.Tags...)
		}
		if r.Actions.Queue != "" {
			route = append(route, workitems.Route{Queue: r.Actions.Queue, Order: k, Rule: r.Name})
		}
		if r.Actions.Alert {
			scope := h.twin.Details.Warehouse
			if scope == "" {
				scope = k.Channel
			}
			raise = append(raise, alerts.Condition{
				Rule: r.Name, Kind: r.Actions.Kind, Severity: r.Actions.Severity, Order: k, Scope: scope,
				Summary: r.Description, Since: h.since,
			})
		}
	}
	opened, err := workitems.Open(ctx, tx, route, now)
	if err != nil {
		return out, err
	}
	out.WorkItems = opened
	raised, err := alerts.Raise(ctx, tx, raise, now)
	if err != nil {
		return out, err
	}
	out.Alerts = raised
	if d.m != nil {
		for _, a := range raised {
			d.m.AlertsRaised.WithLabelValues(a.Kind, a.Severity).Inc()
			d.m.DetectionLatency.Observe(a.RaisedAt.Sub(a.ConditionSince).Seconds())
		}
	}
	return out, nil
}

type ruleCount struct {
	hits, errors int64
	lastErr      string
}

func (c *ruleCount) failed(err error) {
	c.errors++
	c.lastErr = err.Error()
}

// FailingLimit is how many evaluation errors in one hour switch a rule
// off: a rule that fails on nearly every event costs every node time and
// detects nothing; switched off with its error shown, its author can fix
// it.
const FailingLimit = 200

func recordCounts(ctx context.Context, tx bun.Tx, counts map[string]*ruleCount, now time.Time) error {
	if len(counts) == 0 {
		return nil
	}
	var names []string
	var hits, errs []int64
	for n, c := range counts {
		names, hits, errs = append(names, n), append(hits, c.hits), append(errs, c.errors)
	}
	hour := now.UTC().Truncate(time.Hour)
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO rule_hits (rule, hour, hits, errors)
		SELECT r, ?, h, e FROM unnest(?::text[], ?::bigint[], ?::bigint[]) AS x(r, h, e) ORDER BY r
		ON CONFLICT (rule, hour) DO UPDATE SET hits = rule_hits.hits + excluded.hits, errors = rule_hits.errors + excluded.errors`,
		hour, pgdialect.Array(names), pgdialect.Array(hits), pgdialect.Array(errs)); err != nil {
		return fmt.Errorf("count rule hits: %w", err)
	}
	var failing []string
	for n, c := range counts {
		if c.errors > 0 {
			failing = append(failing, n)
		}
	}
	if len(failing) == 0 {
		return nil
	}
	var over []string
	if err := tx.NewRaw(`SELECT rule FROM rule_hits WHERE hour = ? AND rule = ANY(?) AND errors >= ? ORDER BY rule`,
		hour, pgdialect.Array(failing), FailingLimit).Scan(ctx, &over); err != nil {
		return fmt.Errorf("count rule errors: %w", err)
	}
	for _, n := range over {
		reason := fmt.Sprintf("%d errors within the hour; the last: %s", FailingLimit, counts[n].lastErr)
		if err := disableFailing(ctx, tx, n, reason, now); err != nil {
			return err
		}
	}
	return nil
}

// busyRetry is how long (on the injected clock) a deadline whose order
// is being written waits before it is judged again.
const busyRetry = time.Second

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
