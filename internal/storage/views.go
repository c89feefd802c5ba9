package storage

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/towerhq/tower/domain/access"
)

// QueueSize is how much of one work queue waits for people.
type QueueSize struct {
	Queue   string
	Open    int
	Claimed int
	// OldestOpen is when the longest-waiting open item was opened (nil
	// when nothing is open).
	OldestOpen *time.Time
}

// QueueSizes counts the unresolved items of queues within scope, one entry
// per queue asked for (zeros included), in the order asked. It reads only
// unresolved items (the partial index work_items_open), however long the
// history of resolved ones.
func (s *Alerts) QueueSizes(ctx context.Context, queues []string, scope access.Scopes) ([]QueueSize, error) {
	sq, sargs := scopeSQL(scope)
	var rows []struct {
		Queue      string     `bun:"queue"`
		Open       int        `bun:"open"`
		Claimed    int        `bun:"claimed"`
		OldestOpen *time.Time `bun:"oldest_open"`
	}
	args := append([]any{pgdialect.Array(queues)}, sargs...)
	if err := s.db.NewRaw(`SELECT queue,
			count(*) FILTER (WHERE status = 'open') AS open,
			count(*) FILTER (WHERE status = 'claimed') AS claimed,
			min(created_at) FILTER (WHERE status = 'open') AS oldest_open
		FROM work_items t WHERE status <> 'resolved' AND queue = ANY(?)`+sq+` GROUP BY queue`, args...).Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("count work queues: %w", err)
	}
	out := make([]QueueSize, len(queues))
	for i, q := range queues {
		out[i].Queue = q
		for _, r := range rows {
			if r.Queue == q {
				out[i] = QueueSize{Queue: q, Open: r.Open, Claimed: r.Claimed, OldestOpen: r.OldestOpen}
			}
		}
	}
	return out, nil
}

// RuleFiring is how often one rule fired in a window.
type RuleFiring struct {
	Rule string
	// Kind is the kind of its alerts ("" for a rule that raised none).
	Kind string
	// Raised counts alerts the rule raised in the window (within scope);
	// Open those of them still open.
	Raised, Open int
	// Hits counts the rule's matches (alerts, tags, queue routings) in the
	// window's hours; -1 when not known: they are counted for all orders
	// together, so a scoped question cannot be answered from them.
	Hits         int
	LastRaisedAt *time.Time
}

// TopRules returns the rules that fired most in [from, to): by their
// matches when those count (an unscoped question), else by alerts raised;
// at most first. It reads the alerts (index alerts_raised) and the hourly
// rule_hits counters, never the events.
func (s *Alerts) TopRules(ctx context.Context, from, to time.Time, scope access.Scopes, first int) ([]RuleFiring, error) {
	sq, sargs := scopeSQL(scope)
	var raised []struct {
		Rule   string    `bun:"rule"`
		Kind   string    `bun:"kind"`
		Raised int       `bun:"raised"`
		Open   int       `bun:"open"`
		Last   time.Time `bun:"last"`
	}
	args := append([]any{from, to}, sargs...)
	if err := s.db.NewRaw(`SELECT rule, min(kind) AS kind, count(*) AS raised,
			count(*) FILTER (WHERE state <> 'RESOLVED') AS open, max(raised_at) AS last
		FROM alerts t WHERE raised_at >= ? AND raised_at < ?`+sq+` GROUP BY rule`, args...).Scan(ctx, &raised); err != nil {
		return nil, fmt.Errorf("count alerts per rule: %w", err)
	}
	byRule := make(map[string]*RuleFiring, len(raised))
	for _, r := range raised {
		last := r.Last
		byRule[r.Rule] = &RuleFiring{Rule: r.Rule, Kind: r.Kind, Raised: r.Raised, Open: r.Open, Hits: -1, LastRaisedAt: &last}
	}
	if scope.Unlimited() {
		var hits []struct {
			Rule string `bun:"rule"`
			Hits int    `bun:"hits"`
		}
		// Hours that overlap the window: the counters are hourly.
		if err := s.db.NewRaw(`SELECT rule, sum(hits)::bigint AS hits FROM rule_hits
			WHERE hour >= ? AND hour < ? AND hits > 0 GROUP BY rule`, from.UTC().Truncate(time.Hour), to).Scan(ctx, &hits); err != nil {
			return nil, fmt.Errorf("count rule hits: %w", err)
		}
		for _, f := range byRule {
			f.Hits = 0
		}
		for _, h := range hits {
			f := byRule[h.Rule]
			if f == nil {
				f = &RuleFiring{Rule: h.Rule}
				byRule[h.Rule] = f
			}
			f.Hits = h.Hits
		}
	}
	out := make([]RuleFiring, 0, len(byRule))
	for _, f := range byRule {
		out = append(out, *f)
	}
	key := func(f RuleFiring) int {
		if f.Hits >= 0 {
			return max(f.Hits, f.Raised)
		}
		return f.Raised
	}
	sort.Slice(out, func(i, j int) bool {
		if a, b := key(out[i]), key(out[j]); a != b {
			return a > b
		}
		if out[i].Raised != out[j].Raised {
			return out[i].Raised > out[j].Raised
		}
		return out[i].Rule < out[j].Rule
	})
	if len(out) > first {
		out = out[:first]
	}
	return out, nil
}
