// Package incidents owns the incidents and incident_members tables: it
// groups alerts sharing a cause into incidents by domain/incident's rule,
// keeps each incident's blast radius, opens incidents for connectors
// failing their signatures and channels gone silent, resolves them when
// their cause is over, and publishes every change on events.TopicIncidents
// in the transaction that made it (the notifier sends one robot message
// per incident from there; the live views push it).
//
// Fed by a bus handler on the alerts topic (one consumer group: every
// alert is handled by one node), and by a periodic check (any node; one at
// a time) for what no alert announces: quiet periods ending, signature
// failures, silence. Both are idempotent: grouping depends only on the
// set of member alerts, so a redelivered or reordered alert message ends
// in the same incidents.
package incidents

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/towerhq/tower/domain/alert"
	"github.com/towerhq/tower/domain/incident"
	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/events"
	"github.com/towerhq/tower/internal/alerts"
)

// Group is the consumer group of the alerts topic that groups alerts into
// incidents.
const Group = "incidents"

// lockClass is the first key of the advisory locks that serialise changes
// to one cause's incidents ("incd").
const lockClass = 0x696e6364

// checkLock keeps the periodic check to one node at a time.
const checkLock = 0x696e6365

// Options is what a Store needs.
type Options struct {
	DB     *bun.DB
	Bus    events.Bus
	Config incident.Config
	// Now is the server's clock (simulated in simulation mode).
	Now    func() time.Time
	Logger *slog.Logger
	// CheckEvery is how often Run checks quiet periods, signatures and
	// silence. Default 15s.
	CheckEvery time.Duration
}

// Store groups alerts into incidents and reads them.
type Store struct {
	db    *bun.DB
	bus   events.Bus
	cfg   incident.Config
	now   func() time.Time
	log   *slog.Logger
	every time.Duration
}

// New makes a store; it panics without a database.
func New(o Options) *Store {
	if o.DB == nil {
		panic("incidents.New: nil DB")
	}
	s := &Store{db: o.DB, bus: o.Bus, cfg: o.Config.WithDefaults(), now: o.Now, log: o.Logger, every: o.CheckEvery}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("component", "incidents")
	if s.every <= 0 {
		s.every = 15 * time.Second
	}
	return s
}

// Config is the thresholds in force.
func (s *Store) Config() incident.Config { return s.cfg }

// memberColumns are read by scanMember.
const memberColumns = `alert_id, kind, severity, channel, order_no, shop, warehouse, courier, amount, raised_at, resolved_at, coalesce(incident_id, 0)`

type member struct {
	incident.Member
	severity string
	incident int64
}

func scanMember(row interface{ Scan(...any) error }) (member, error) {
	var m member
	var res sql.NullTime
	err := row.Scan(&m.AlertID, &m.Kind, &m.severity, &m.Channel, &m.OrderNo, &m.Shop, &m.Warehouse, &m.Courier, &m.Amount,
		&m.At, &res, &m.incident)
	m.ResolvedAt = res.Time
	return m, err
}

// Handle is the bus handler for events.TopicAlerts: alerts of the kinds
// incidents group become members (with their order's warehouse, courier,
// shop and amount), resolutions are noted, and every cause touched is
// grouped again, in one transaction that publishes the incidents changed.
func (s *Store) Handle(msg *message.Message) error {
	var ch events.AlertChanges
	if err := json.Unmarshal(msg.Payload, &ch); err != nil {
		return fmt.Errorf("%w: decode %s message %s: %v", events.ErrPermanent, events.TopicAlerts, msg.UUID, err)
	}
	return s.Take(msg.Context(), ch.Alerts)
}

// Take is Handle's work on decoded alerts.
func (s *Store) Take(ctx context.Context, as []events.AlertSnapshot) error {
	var raised []int64
	var resolved []events.AlertSnapshot
	for _, a := range as {
		if a.Raised {
			raised = append(raised, a.ID)
		}
		if a.State == alert.Resolved.String() && a.ResolvedAt != nil {
			resolved = append(resolved, a)
		}
	}
	if len(raised) == 0 && len(resolved) == 0 {
		return nil
	}
	now := s.now()
	return s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		keys, err := s.addMembers(ctx, tx, raised)
		if err != nil {
			return err
		}
		more, err := noteResolved(ctx, tx, resolved)
		if err != nil {
			return err
		}
		for _, k := range more {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
		var out []events.IncidentSnapshot
		for _, k := range keys {
			snaps, err := s.sync(ctx, tx, k, now)
			if err != nil {
				return err
			}
			out = append(out, snaps...)
		}
		return s.publish(ctx, tx, out)
	})
}

// addMembers stores the alerts among ids an incident may group, with their
// orders' facts, and returns the causes they point to. The alert's own
// row gives its resolution, should that have come first.
func (s *Store) addMembers(ctx context.Context, tx bun.Tx, ids []int64) ([]incident.Key, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := tx.QueryContext(ctx, `
		SELECT a.id, a.kind, a.severity, a.channel, a.order_no, a.raised_at, a.resolved_at,
			coalesce(o.twin->'details'->>'shop', ''), coalesce(o.twin->'details'->>'warehouse', ''),
			coalesce(o.twin->'details'->>'courier', ''), coalesce(o.twin->'details'->>'amount', '')
		FROM alerts a LEFT JOIN orders o ON o.channel = a.channel AND o.order_no = a.order_no
		WHERE a.id = ANY(?::bigint[])`, pgdialect.Array(ids))
	if err != nil {
		return nil, fmt.Errorf("incidents: read %d alerts: %w", len(ids), err)
	}
	type add struct {
		m   member
		key incident.Key
	}
	var adds []add
	for rows.Next() {
		var m member
		var res sql.NullTime
		var amount string
		if err := rows.Scan(&m.AlertID, &m.Kind, &m.severity, &m.Channel, &m.OrderNo, &m.At, &res, &m.Shop, &m.Warehouse,
			&m.Courier, &amount); err != nil {
			rows.Close()
			return nil, fmt.Errorf("incidents: read alerts: %w", err)
		}
		m.ResolvedAt = res.Time
		if amount != "" {
			if v, err := order.ParseMoney(amount); err == nil {
				m.Amount = int64(v)
			}
		}
		if k, ok := incident.CauseOf(m.Kind, m.Warehouse, m.Courier); ok {
			adds = append(adds, add{m, k})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("incidents: read alerts: %w", err)
	}
	if len(adds) == 0 {
		return nil, nil
	}
	// One statement for a storm's thousands of alerts.
	n := len(adds)
	id, amount := make([]int64, n), make([]int64, n)
	cause, value, kind, sev, ch, no, shop, wh, courier := make([]string, n), make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	raised := make([]time.Time, n)
	resolved := make([]*time.Time, n)
	var keys []incident.Key
	for i, a := range adds {
		m := a.m
		id[i], amount[i], raised[i] = m.AlertID, m.Amount, m.At
		cause[i], value[i], kind[i], sev[i], ch[i], no[i], shop[i], wh[i], courier[i] = a.key.Cause.String(), a.key.Value, m.Kind,
			m.severity, m.Channel, m.OrderNo, m.Shop, m.Warehouse, m.Courier
		if !m.ResolvedAt.IsZero() {
			resolved[i] = &m.ResolvedAt
		}
		if !slices.Contains(keys, a.key) {
			keys = append(keys, a.key)
		}
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO incident_members (alert_id, cause, cause_key, kind, severity, channel, order_no, shop, warehouse, courier, amount,
			raised_at, resolved_at)
		SELECT * FROM unnest(?::bigint[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[],
			?::bigint[], ?::timestamptz[], ?::timestamptz[])
		ON CONFLICT (alert_id) DO UPDATE SET resolved_at = coalesce(incident_members.resolved_at, excluded.resolved_at)`,
		pgdialect.Array(id), pgdialect.Array(cause), pgdialect.Array(value), pgdialect.Array(kind), pgdialect.Array(sev),
		pgdialect.Array(ch), pgdialect.Array(no), pgdialect.Array(shop), pgdialect.Array(wh), pgdialect.Array(courier),
		pgdialect.Array(amount), pgdialect.Array(raised), pgdialect.Array(resolved)); err != nil {
		return nil, fmt.Errorf("incidents: add %d member alerts: %w", n, err)
	}
	return keys, nil
}

// noteResolved records member alerts' resolutions and returns their causes.
func noteResolved(ctx context.Context, tx bun.Tx, as []events.AlertSnapshot) ([]incident.Key, error) {
	if len(as) == 0 {
		return nil, nil
	}
	ids := make([]int64, len(as))
	at := make([]time.Time, len(as))
	for i, a := range as {
		ids[i], at[i] = a.ID, *a.ResolvedAt
	}
	rows, err := tx.QueryContext(ctx, `
		UPDATE incident_members m SET resolved_at = x.at
		FROM unnest(?::bigint[], ?::timestamptz[]) AS x(id, at)
		WHERE m.alert_id = x.id AND m.resolved_at IS NULL
		RETURNING m.cause, m.cause_key`, pgdialect.Array(ids), pgdialect.Array(at))
	if err != nil {
		return nil, fmt.Errorf("incidents: note %d resolutions: %w", len(as), err)
	}
	defer rows.Close()
	var keys []incident.Key
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys, rows.Err()
}

func scanKey(row interface{ Scan(...any) error }) (incident.Key, error) {
	var cause, value string
	if err := row.Scan(&cause, &value); err != nil {
		return incident.Key{}, fmt.Errorf("incidents: read cause: %w", err)
	}
	c, err := incident.ParseCause(cause)
	if err != nil {
		return incident.Key{}, fmt.Errorf("incidents: %w", err)
	}
	return incident.Key{Cause: c, Value: value}, nil
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

func lock(ctx context.Context, tx bun.Tx, k incident.Key) error {
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(?, hashtext(?))`, lockClass, k.String()); err != nil {
		return fmt.Errorf("incidents: lock %s: %w", k, err)
	}
	return nil
}

// sync groups one cause's alerts again and brings its incidents in line:
// a run of alerts the rule makes an incident opens one (or grows the one
// its members already belong to; two it now bridges become one), and an
// incident whose cause is over resolves. It returns the incidents changed.
func (s *Store) sync(ctx context.Context, tx bun.Tx, k incident.Key, now time.Time) ([]events.IncidentSnapshot, error) {
	if err := lock(ctx, tx, k); err != nil {
		return nil, err
	}
	// What an incident resolved before: by hand, its end; by itself, its
	// last member. Later alerts begin anew; earlier ones are history.
	var cut sql.NullTime
	if err := tx.QueryRowContext(ctx, `
		SELECT max(CASE WHEN resolved_by LIKE 'auto%' THEN last_seen_at ELSE resolved_at END)
		FROM incidents WHERE cause = ? AND cause_key = ? AND state = ?`,
		k.Cause.String(), k.Value, incident.Resolved.String()).Scan(&cut); err != nil {
		return nil, fmt.Errorf("incidents: read %s history: %w", k, err)
	}
	open, err := openIDs(ctx, tx, k)
	if err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+memberColumns+` FROM incident_members
		WHERE cause = ? AND cause_key = ? AND raised_at > ? AND (incident_id IS NULL OR incident_id = ANY(?::bigint[]))`,
		k.Cause.String(), k.Value, cutOrZero(cut), pgdialect.Array(open))
	if err != nil {
		return nil, fmt.Errorf("incidents: read %s members: %w", k, err)
	}
	byID := map[int64]member{}
	var ms []incident.Member
	for rows.Next() {
		m, err := scanMember(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("incidents: read %s members: %w", k, err)
		}
		byID[m.AlertID] = m
		ms = append(ms, m.Member)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("incidents: read %s members: %w", k, err)
	}
	var out []events.IncidentSnapshot
	for _, c := range incident.Group(s.cfg, ms, cut.Time) {
		target, merged := int64(0), []int64{}
		fresh := 0 // members not in the target yet
		for _, m := range c.Members {
			id := byID[m.AlertID].incident
			switch {
			case id == 0:
			case target == 0 || id < target:
				if target != 0 {
					merged = append(merged, target)
				}
				target = id
			case id != target && !slices.Contains(merged, id):
				merged = append(merged, id)
			}
		}
		settled := c.Settled(s.cfg, now)
		event := ""
		if target == 0 {
			if settled {
				continue // over before anyone saw it (a replay): nothing to tell
			}
			if err := tx.QueryRowContext(ctx, `
				INSERT INTO incidents (cause, cause_key, warehouse, state, started_at, last_seen_at, opened_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
				k.Cause.String(), k.Value, k.Warehouse(), incident.Open.String(), c.Start, c.LastSeen, now, now).Scan(&target); err != nil {
				return nil, fmt.Errorf("incidents: open %s: %w", k, err)
			}
			event = events.IncidentOpened
			s.log.Info("incident opened", "cause", k.Cause.String(), "key", k.Value, "incident", target, "alerts", len(c.Members))
		}
		var joining []int64
		for _, m := range c.Members {
			if byID[m.AlertID].incident != target {
				joining = append(joining, m.AlertID)
			}
		}
		fresh = len(joining)
		ids := c.IDs()
		if fresh > 0 {
			if _, err := tx.ExecContext(ctx, `UPDATE incident_members SET incident_id = ? WHERE alert_id = ANY(?::bigint[])`,
				target, pgdialect.Array(joining)); err != nil {
				return nil, fmt.Errorf("incidents: add members to %d: %w", target, err)
			}
			if err := alerts.SetIncident(ctx, tx, target, joining); err != nil {
				return nil, err
			}
		}
		for _, id := range merged {
			snap, err := resolve(ctx, tx, id, fmt.Sprintf("auto: merged into #%d", target), now, "")
			if err != nil {
				return nil, err
			}
			out = append(out, snap)
		}
		// The radius counts every member, those the rule no longer joins
		// to the run included (a resolution learnt late).
		all := slices.Clone(c.Members)
		sev := ""
		for _, m := range byID {
			if m.incident == target && !slices.Contains(ids, m.AlertID) {
				all = append(all, m.Member)
			}
		}
		for _, m := range all {
			if v := byID[m.AlertID].severity; severityRank(v) > severityRank(sev) {
				sev = v
			}
		}
		r := incident.RadiusOf(all)
		start, last := c.Start, c.LastSeen
		for _, m := range all {
			start, last = minTime(start, m.At), maxTime(last, m.At)
		}
		if sev == "" {
			sev = "warning"
		}
		if _, err := tx.ExecContext(ctx, `
			UPDATE incidents SET started_at = ?, last_seen_at = ?, members = ?, orders = ?, money = ?, shops = ?, channels = ?,
				severity = ?, updated_at = ?
			WHERE id = ?`, start, last, len(all), r.Orders, r.Money, pgdialect.Array(r.Shops), pgdialect.Array(r.Channels),
			sev, now, target); err != nil {
			return nil, fmt.Errorf("incidents: update %d: %w", target, err)
		}
		if settled {
			snap, err := resolve(ctx, tx, target, "auto: quiet", now, events.IncidentResolved)
			if err != nil {
				return nil, err
			}
			out = append(out, snap)
			continue
		}
		if event != "" || fresh > 0 || len(merged) > 0 {
			snap, err := get(ctx, tx, target)
			if err != nil {
				return nil, err
			}
			snap.Event = event
			out = append(out, snap)
		}
	}
	return out, nil
}

// severityRank orders alert severities: info, warning, critical.
func severityRank(s string) int { return slices.Index([]string{"info", "warning", "critical"}, s) + 1 }

func cutOrZero(t sql.NullTime) time.Time {
	if t.Valid {
		return t.Time
	}
	return time.Time{}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func openIDs(ctx context.Context, tx bun.IDB, k incident.Key) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id FROM incidents WHERE cause = ? AND cause_key = ? AND state <> ? ORDER BY id`,
		k.Cause.String(), k.Value, incident.Resolved.String())
	if err != nil {
		return nil, fmt.Errorf("incidents: read open %s: %w", k, err)
	}
	defer rows.Close()
	ids := []int64{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("incidents: read open %s: %w", k, err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// resolve resolves an open incident (by says how) and returns it with event.
func resolve(ctx context.Context, tx bun.Tx, id int64, by string, now time.Time, event string) (events.IncidentSnapshot, error) {
	if _, err := tx.ExecContext(ctx, `UPDATE incidents SET state = ?, resolved_at = ?, resolved_by = ?, updated_at = ? WHERE id = ? AND state <> ?`,
		incident.Resolved.String(), now, by, now, id, incident.Resolved.String()); err != nil {
		return events.IncidentSnapshot{}, fmt.Errorf("incidents: resolve %d: %w", id, err)
	}
	snap, err := get(ctx, tx, id)
	snap.Event = event
	return snap, err
}

func (s *Store) publish(ctx context.Context, tx bun.Tx, snaps []events.IncidentSnapshot) error {
	if len(snaps) == 0 || s.bus == nil {
		return nil
	}
	payload, err := json.Marshal(events.IncidentChanges{Incidents: snaps})
	if err != nil {
		return fmt.Errorf("incidents: encode changes: %w", err)
	}
	return s.bus.PublishTx(ctx, tx.Tx, events.TopicIncidents, message.NewMessage(watermill.NewUUID(), payload))
}

// Columns are read by scan.
const columns = `id, cause, cause_key, warehouse, state, severity, started_at, last_seen_at, opened_at, members, orders, money,
	shops, channels, acknowledged_at, coalesce(acknowledged_by, ''), resolved_at, coalesce(resolved_by, '')`

func scan(row interface{ Scan(...any) error }) (events.IncidentSnapshot, error) {
	var in events.IncidentSnapshot
	var ack, res sql.NullTime
	err := row.Scan(&in.ID, &in.Cause, &in.Key, &in.Warehouse, &in.State, &in.Severity, &in.StartedAt, &in.LastSeenAt, &in.OpenedAt,
		&in.Members, &in.Orders, &in.Money, pgdialect.Array(&in.Shops), pgdialect.Array(&in.Channels), &ack, &in.AcknowledgedBy,
		&res, &in.ResolvedBy)
	if ack.Valid {
		in.AcknowledgedAt = &ack.Time
	}
	if res.Valid {
		in.ResolvedAt = &res.Time
	}
	return in, err
}

// ErrNotFound is returned for an unknown incident id.
var ErrNotFound = errors.New("incident not found")

func get(ctx context.Context, db bun.IDB, id int64) (events.IncidentSnapshot, error) {
	in, err := scan(db.QueryRowContext(ctx, `SELECT `+columns+` FROM incidents WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return in, ErrNotFound
	}
	if err != nil {
		return in, fmt.Errorf("incidents: read %d: %w", id, err)
	}
	return in, nil
}

// SetState moves incident id to state to by hand (acknowledge, resolve),
// publishing the change, and returns it. A move incident.Move refuses
// comes back as its error; one that changes nothing returns the incident.
// Resolving by hand tells the robots, as resolving by itself does.
func (s *Store) SetState(ctx context.Context, id int64, to incident.State, by string) (events.IncidentSnapshot, error) {
	var out events.IncidentSnapshot
	now := s.now()
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var cur string
		err := tx.QueryRowContext(ctx, `SELECT state FROM incidents WHERE id = ? FOR UPDATE`, id).Scan(&cur)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("incidents: set %d %s: %w", id, to, err)
		}
		from, err := incident.ParseState(cur)
		if err != nil {
			return fmt.Errorf("incidents: set %d %s: %w", id, to, err)
		}
		changed, err := incident.Move(from, to)
		if err != nil {
			return err
		}
		if !changed {
			out, err = get(ctx, tx, id)
			return err
		}
		switch to {
		case incident.Acknowledged:
			_, err = tx.ExecContext(ctx, `UPDATE incidents SET state = ?, acknowledged_at = ?, acknowledged_by = ?, updated_at = ? WHERE id = ?`,
				to.String(), now, by, now, id)
			if err == nil {
				out, err = get(ctx, tx, id)
			}
		case incident.Resolved:
			out, err = resolve(ctx, tx, id, by, now, events.IncidentResolved)
		default:
			return &incident.TransitionError{From: from, To: to}
		}
		if err != nil {
			return fmt.Errorf("incidents: set %d %s: %w", id, to, err)
		}
		return s.publish(ctx, tx, []events.IncidentSnapshot{out})
	})
	return out, err
}

// DB is what reads run on: the API's pool or the node's.
type DB interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
