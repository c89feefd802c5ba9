package notifications

import (
	"slices"
	"strings"
	"time"
)

type groupKey struct {
	rule, scope string
	escalation  bool
	// incident is "incident:ID:event" for an incident's message: each is
	// a message of its own.
	incident string
}

// String is the group_key stored with each outbox row and in the delivery
// log: "rule|scope", "escalation:rule|scope" for a re-notification,
// "incident:ID:event" for an incident opened or resolved.
func (k groupKey) String() string {
	if k.incident != "" {
		return k.incident
	}
	s := k.rule + "|" + k.scope
	if k.escalation {
		s = "escalation:" + s
	}
	return s
}

// group is the due outbox rows of one (rule, scope) for one channel: what
// one message reports.
type group struct {
	key         groupKey
	kind        string
	severity    string // the highest seen
	count       int
	samples     []Alert
	first, last time.Time
	ids         []int64 // the outbox rows
	attempts    int     // the most attempts any of them had
	// title and body are an incident message's, rendered when it was
	// taken in.
	title, body string
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

// groupRows groups due rows (in id order, so samples are the first
// arrivals) by key.
func (d *Dispatcher) groupRows(rows []outboxRow) []*group {
	byKey := map[groupKey]*group{}
	var out []*group
	for _, r := range rows {
		k := r.key()
		g := byKey[k]
		if g == nil {
			g = &group{key: k, kind: r.Kind}
			if k.incident != "" {
				g.title, g.body = r.Summary, r.Body
			}
			byKey[k] = g
			out = append(out, g)
		}
		g.add(r.alert(), d.opts.Samples, r.ReceivedAt)
		g.ids = append(g.ids, r.ID)
		g.attempts = max(g.attempts, r.Attempts)
	}
	return out
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

// delivery is one robot message: the groups it reports.
type delivery struct {
	groups []*group
	msg    Message
	cost   int
	// attempt is this send's number: one more than the most attempts any
	// of its rows had.
	attempt int
}

func (dl *delivery) alerts() int {
	n := 0
	for _, g := range dl.groups {
		n += g.count
	}
	return n
}

func (dl *delivery) ids() []int64 {
	var out []int64
	for _, g := range dl.groups {
		out = append(out, g.ids...)
	}
	return out
}

func (dl *delivery) key() string {
	keys := make([]string, len(dl.groups))
	for i, g := range dl.groups {
		keys[i] = g.key.String()
	}
	return strings.Join(keys, ", ")
}

// pack turns due groups into deliveries costing at most free rate slots:
// one message per group if they all fit, else digests; groups not taken
// wait in the outbox for the next free slot.
func (d *Dispatcher) pack(ch Channel, groups []*group, free int) ([]*delivery, []*group) {
	if free <= 0 {
		return nil, groups
	}
	sortGroups(groups)
	singles := make([]*delivery, len(groups))
	total := 0
	for i, g := range groups {
		singles[i] = d.newDelivery(ch, []*group{g}, d.renderGroup(g))
		total += singles[i].cost
	}
	if total <= free {
		return singles, nil
	}
	var out []*delivery
	var left []*group
	for _, gs := range d.digestParts(ch, groups) {
		msg := d.renderGroup(gs[0])
		if len(gs) > 1 {
			msg = d.renderDigest(gs)
		}
		dl := d.newDelivery(ch, gs, msg)
		if dl.cost <= free {
			free -= dl.cost
			out = append(out, dl)
		} else {
			left = append(left, gs...)
		}
	}
	return out, left
}

func (d *Dispatcher) newDelivery(ch Channel, gs []*group, msg Message) *delivery {
	cost := 1
	if c, ok := ch.(Coster); ok {
		cost = c.Cost(msg)
	}
	attempts := 0
	for _, g := range gs {
		attempts = max(attempts, g.attempts)
	}
	return &delivery{groups: gs, msg: msg, cost: min(max(cost, 1), d.opts.RatePerMinute), attempt: attempts + 1}
}

// rateState is a robot's recent sends as the delivery log records them,
// from every node: the per-minute limit holds across nodes.
type rateState struct {
	limit int
	// slots are the attempts within the last rateWindow, oldest first, one
	// entry per rate slot taken.
	slots []time.Time
	// pausedUntil is when the robot said it takes messages again.
	pausedUntil time.Time
	// need is the slots the next message waiting takes (0: 1).
	need int
}

func (r *rateState) used(now time.Time) int {
	i := 0
	for i < len(r.slots) && now.Sub(r.slots[i]) >= rateWindow {
		i++
	}
	r.slots = r.slots[i:]
	return len(r.slots)
}

func (r *rateState) took(at time.Time, cost int) {
	for range cost {
		r.slots = append(r.slots, at)
	}
}

// slotFreeAt is when the next message may go: soon while there is room
// for it, else when enough of the oldest slots have left the window.
func (r *rateState) slotFreeAt(now time.Time) time.Time {
	n, need := r.used(now), min(max(r.need, 1), r.limit)
	if n+need <= r.limit {
		return now.Add(minWait)
	}
	return r.slots[n+need-r.limit-1].Add(rateWindow)
}
