package notifications

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/towerhq/tower/domain/alert"
)

// The outbox (notification_outbox) holds every notification until it is
// sent, given up, silenced or cancelled; see the migration for its columns.
const (
	purposeAlert      = "alert"
	purposeEscalation = "escalation"
	purposeIncident   = "incident"

	statePending   = "pending"
	stateSent      = "sent"
	stateFailed    = "failed"
	stateSilenced  = "silenced"
	stateCancelled = "cancelled"
	// stateFolded: an alert whose incident the robots are told of instead.
	stateFolded = "folded"
)

// outboxRow is one alert on its way to one channel.
type outboxRow struct {
	ID       int64
	AlertID  int64
	Channel  string
	Purpose  string
	GroupKey string
	Rule     string
	Kind     string
	Severity string
	OrderRef string
	Scope    string
	Summary  string
	Link     string
	RaisedAt time.Time
	// ReceivedAt is when the dispatcher took the alert in; a group's window
	// and an escalation's delay run from it.
	ReceivedAt time.Time
	// DueAt is when the row may be sent: the first of its group's window
	// end, escalation time or retry.
	DueAt    time.Time
	Attempts int
	// IncidentID and IncidentEvent name an incident's message (purpose
	// incident); Body is its rendered markdown, Summary its title.
	IncidentID    int64
	IncidentEvent string
	Body          string
	// earliest is when the row could go without grouping (insert only):
	// now for an alert, now + EscalateAfter for an escalation.
	earliest time.Time
}

func (r outboxRow) key() groupKey {
	if r.Purpose == purposeIncident {
		return groupKey{rule: r.Rule, scope: r.Scope, incident: r.GroupKey}
	}
	return groupKey{rule: r.Rule, scope: r.Scope, escalation: r.Purpose == purposeEscalation}
}

func (r outboxRow) alert() Alert {
	return Alert{ID: r.AlertID, Rule: r.Rule, Kind: r.Kind, Severity: r.Severity, Order: r.OrderRef, Scope: r.Scope,
		Summary: r.Summary, Link: r.Link, RaisedAt: r.RaisedAt}
}

// insertRows adds rows, skipping those whose (alert, channel, purpose) is
// in the outbox already: taking the same alert in twice changes nothing. A
// row joins the open window of its group (a pending, never tried row of
// the same channel and key due after the row's earliest time) or opens one
// lasting window.
func insertRows(ctx context.Context, db bun.IDB, rows []outboxRow, now time.Time, window time.Duration) error {
	if len(rows) == 0 {
		return nil
	}
	n := len(rows)
	ch, purpose, key, rule, kind, sev, ref, scope, sum, link := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	ids := make([]int64, n)
	raised, earliest, due := make([]time.Time, n), make([]time.Time, n), make([]time.Time, n)
	for i, r := range rows {
		ch[i], purpose[i], key[i], rule[i], kind[i], sev[i], ref[i], scope[i], sum[i], link[i] =
			r.Channel, r.Purpose, r.GroupKey, r.Rule, r.Kind, r.Severity, r.OrderRef, r.Scope, r.Summary, r.Link
		ids[i], raised[i], earliest[i], due[i] = r.AlertID, r.RaisedAt, r.earliest, r.earliest.Add(window)
	}
	_, err := db.ExecContext(ctx, `
		INSERT INTO notification_outbox (channel, purpose, alert_id, group_key, rule, kind, severity, order_ref, scope, summary, link,
			raised_at, received_at, due_at)
		SELECT x.c, x.p, nullif(x.a, 0), x.g, x.r, x.k, x.s, x.o, x.sc, x.su, x.l, x.ra, ?, coalesce(w.close_at, x.due)
		FROM unnest(?::text[], ?::text[], ?::bigint[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[],
			?::timestamptz[], ?::timestamptz[], ?::timestamptz[]) WITH ORDINALITY AS x(c, p, a, g, r, k, s, o, sc, su, l, ra, earliest, due, n)
		LEFT JOIN LATERAL (
			SELECT max(ob.due_at) AS close_at FROM notification_outbox ob
			WHERE ob.channel = x.c AND ob.group_key = x.g AND ob.state = 'pending' AND ob.attempts = 0 AND ob.due_at > x.earliest
		) w ON true
		ORDER BY x.n
		ON CONFLICT (alert_id, channel, purpose) DO NOTHING`,
		now, pgdialect.Array(ch), pgdialect.Array(purpose), pgdialect.Array(ids), pgdialect.Array(key), pgdialect.Array(rule),
		pgdialect.Array(kind), pgdialect.Array(sev), pgdialect.Array(ref), pgdialect.Array(scope), pgdialect.Array(sum),
		pgdialect.Array(link), pgdialect.Array(raised), pgdialect.Array(earliest), pgdialect.Array(due))
	if err != nil {
		return fmt.Errorf("insert %d outbox rows: %w", n, err)
	}
	return nil
}

// insertIncidentRows adds incident messages, due at once, skipping those
// whose (incident, event, channel) is in the outbox already: a redelivered
// incident change adds nothing.
func insertIncidentRows(ctx context.Context, db bun.IDB, rows []outboxRow, now time.Time) error {
	if len(rows) == 0 {
		return nil
	}
	n := len(rows)
	ch, key, ev, rule, kind, sev, scope, title, body := make([]string, n), make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	ids := make([]int64, n)
	raised := make([]time.Time, n)
	for i, r := range rows {
		ch[i], key[i], ev[i], rule[i], kind[i], sev[i], scope[i], title[i], body[i] =
			r.Channel, r.GroupKey, r.IncidentEvent, r.Rule, r.Kind, r.Severity, r.Scope, r.Summary, r.Body
		ids[i], raised[i] = r.IncidentID, r.RaisedAt
	}
	_, err := db.ExecContext(ctx, `
		INSERT INTO notification_outbox (channel, purpose, incident_id, incident_event, group_key, rule, kind, severity, scope, summary, body,
			raised_at, received_at, due_at)
		SELECT x.c, ?, x.i, x.e, x.g, x.r, x.k, x.s, x.sc, x.t, x.b, x.ra, ?, ?
		FROM unnest(?::text[], ?::bigint[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[],
			?::timestamptz[]) WITH ORDINALITY AS x(c, i, e, g, r, k, s, sc, t, b, ra, n)
		ORDER BY x.n
		ON CONFLICT (incident_id, incident_event, channel) WHERE incident_id IS NOT NULL DO NOTHING`,
		purposeIncident, now, now, pgdialect.Array(ch), pgdialect.Array(ids), pgdialect.Array(ev), pgdialect.Array(key),
		pgdialect.Array(rule), pgdialect.Array(kind), pgdialect.Array(sev), pgdialect.Array(scope), pgdialect.Array(title),
		pgdialect.Array(body), pgdialect.Array(raised))
	if err != nil {
		return fmt.Errorf("insert %d incident outbox rows: %w", n, err)
	}
	return nil
}

// inIncidents returns the alerts among ids that belong to an incident whose
// message goes to channel: a channel the incident's message does not reach
// (its routes want other kinds) keeps hearing of each alert.
func inIncidents(ctx context.Context, db bun.IDB, channel string, ids []int64) (map[int64]bool, error) {
	out := map[int64]bool{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := db.QueryContext(ctx, `
		SELECT a.id FROM alerts a
		WHERE a.id = ANY(?::bigint[]) AND a.incident_id IS NOT NULL AND EXISTS (
			SELECT 1 FROM notification_outbox ob WHERE ob.incident_id = a.incident_id AND ob.channel = ? AND ob.purpose = ?)`,
		pgdialect.Array(ids), channel, purposeIncident)
	if err != nil {
		return nil, fmt.Errorf("read alerts' incidents: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("read alerts' incidents: %w", err)
		}
		out[id] = true
	}
	return out, rows.Err()
}

// cancelEscalations cancels the pending escalations of alerts; with
// escalateTo, an alert whose escalation is not in the outbox yet gets a
// cancelled row there, which the escalation's own insert then runs into.
func cancelEscalations(ctx context.Context, tx bun.Tx, ids []int64, escalateTo string, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `
		UPDATE notification_outbox SET state = ?, done_at = ?
		WHERE purpose = ? AND state = ? AND alert_id = ANY(?::bigint[])`,
		stateCancelled, now, purposeEscalation, statePending, pgdialect.Array(ids)); err != nil {
		return fmt.Errorf("cancel escalations: %w", err)
	}
	if escalateTo == "" {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO notification_outbox (channel, purpose, alert_id, raised_at, received_at, due_at, state, done_at)
		SELECT ?, ?, id, ?, ?, ?, ?, ? FROM unnest(?::bigint[]) AS id
		ON CONFLICT DO NOTHING`,
		escalateTo, purposeEscalation, now, now, now, stateCancelled, now, pgdialect.Array(ids)); err != nil {
		return fmt.Errorf("record acknowledgements: %w", err)
	}
	return nil
}

// cancelAcknowledged cancels a channel's due escalations of alerts no
// longer firing: the alerts table may know before the bus message saying
// so reaches the notifier.
func cancelAcknowledged(ctx context.Context, db bun.IDB, channel string, now time.Time) error {
	_, err := db.ExecContext(ctx, `
		UPDATE notification_outbox ob SET state = ?, done_at = ?
		WHERE ob.channel = ? AND ob.purpose = ? AND ob.state = ? AND ob.due_at <= ?
			AND EXISTS (SELECT 1 FROM alerts a WHERE a.id = ob.alert_id AND a.state <> ?)`,
		stateCancelled, now, channel, purposeEscalation, statePending, now, alert.Firing.String())
	if err != nil {
		return fmt.Errorf("cancel escalations of acknowledged alerts on %s: %w", channel, err)
	}
	return nil
}

// maxDueRows bounds the rows one step reads for a channel; the rest go in
// the next step's messages.
const maxDueRows = 50_000

func dueRows(ctx context.Context, db bun.IDB, channel string, now time.Time) ([]outboxRow, error) {
	rows, err := db.QueryContext(ctx, `
		SELECT id, coalesce(alert_id, 0), channel, purpose, group_key, rule, kind, severity, order_ref, scope, summary, link,
			raised_at, received_at, due_at, attempts, coalesce(incident_id, 0), incident_event, body
		FROM notification_outbox WHERE channel = ? AND state = ? AND due_at <= ?
		ORDER BY id LIMIT ?`, channel, statePending, now, maxDueRows)
	if err != nil {
		return nil, fmt.Errorf("read due notifications of %s: %w", channel, err)
	}
	defer rows.Close()
	var out []outboxRow
	for rows.Next() {
		var r outboxRow
		if err := rows.Scan(&r.ID, &r.AlertID, &r.Channel, &r.Purpose, &r.GroupKey, &r.Rule, &r.Kind, &r.Severity, &r.OrderRef,
			&r.Scope, &r.Summary, &r.Link, &r.RaisedAt, &r.ReceivedAt, &r.DueAt, &r.Attempts, &r.IncidentID, &r.IncidentEvent, &r.Body); err != nil {
			return nil, fmt.Errorf("read due notifications of %s: %w", channel, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// pendingDue is, per channel with pending rows, the earliest due time.
func pendingDue(ctx context.Context, db bun.IDB, channels []string) (map[string]time.Time, error) {
	rows, err := db.QueryContext(ctx, `
		SELECT channel, min(due_at) FROM notification_outbox
		WHERE state = ? AND channel = ANY(?::text[]) GROUP BY channel`, statePending, pgdialect.Array(channels))
	if err != nil {
		return nil, fmt.Errorf("read pending notifications: %w", err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var ch string
		var due time.Time
		if err := rows.Scan(&ch, &due); err != nil {
			return nil, fmt.Errorf("read pending notifications: %w", err)
		}
		out[ch] = due
	}
	return out, rows.Err()
}

// claim locks the rows that are still pending among ids, skipping rows
// another transaction holds, and returns those it locked.
func claim(ctx context.Context, tx bun.Tx, ids []int64) (map[int64]bool, error) {
	rows, err := tx.QueryContext(ctx, `
		SELECT id FROM notification_outbox WHERE id = ANY(?::bigint[]) AND state = ? FOR UPDATE SKIP LOCKED`,
		pgdialect.Array(ids), statePending)
	if err != nil {
		return nil, fmt.Errorf("claim notifications: %w", err)
	}
	defer rows.Close()
	out := make(map[int64]bool, len(ids))
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("claim notifications: %w", err)
		}
		out[id] = true
	}
	return out, rows.Err()
}

// finish ends rows: sent, failed, silenced.
func finish(ctx context.Context, tx bun.Tx, ids []int64, state string, tried bool, errText string, now time.Time) error {
	inc := 0
	if tried {
		inc = 1
	}
	_, err := tx.ExecContext(ctx, `
		UPDATE notification_outbox SET state = ?, attempts = attempts + ?, last_error = nullif(?, ''), done_at = ?
		WHERE id = ANY(?::bigint[])`, state, inc, errText, now, pgdialect.Array(ids))
	if err != nil {
		return fmt.Errorf("mark %d notifications %s: %w", len(ids), state, err)
	}
	return nil
}

// retryLater counts a failed attempt and makes the rows due again at.
func retryLater(ctx context.Context, tx bun.Tx, ids []int64, errText string, at time.Time) error {
	_, err := tx.ExecContext(ctx, `
		UPDATE notification_outbox SET attempts = attempts + 1, last_error = ?, due_at = ? WHERE id = ANY(?::bigint[])`,
		errText, at, pgdialect.Array(ids))
	if err != nil {
		return fmt.Errorf("reschedule %d notifications: %w", len(ids), err)
	}
	return nil
}

// loadRate reads a channel's recent attempts and pause from the delivery
// log.
func loadRate(ctx context.Context, db bun.IDB, channel string, limit int, now time.Time) (rateState, error) {
	rs := rateState{limit: limit}
	rows, err := db.QueryContext(ctx, `
		SELECT created_at, cost FROM notification_deliveries
		WHERE channel = ? AND attempt > 0 AND created_at > ? ORDER BY created_at`, channel, now.Add(-rateWindow))
	if err != nil {
		return rs, fmt.Errorf("read rate of %s: %w", channel, err)
	}
	defer rows.Close()
	for rows.Next() {
		var at time.Time
		var cost int
		if err := rows.Scan(&at, &cost); err != nil {
			return rs, fmt.Errorf("read rate of %s: %w", channel, err)
		}
		rs.took(at, max(cost, 1))
	}
	if err := rows.Err(); err != nil {
		return rs, fmt.Errorf("read rate of %s: %w", channel, err)
	}
	var paused sql.NullTime
	if err := db.QueryRowContext(ctx, `SELECT max(retry_at) FROM notification_deliveries WHERE channel = ? AND status = ?`,
		channel, StatusRateLimited).Scan(&paused); err != nil {
		return rs, fmt.Errorf("read pause of %s: %w", channel, err)
	}
	rs.pausedUntil = paused.Time
	return rs, nil
}

func nextDue(ctx context.Context, db bun.IDB, channel string) (time.Time, error) {
	var due sql.NullTime
	if err := db.QueryRowContext(ctx, `SELECT min(due_at) FROM notification_outbox WHERE channel = ? AND state = ?`,
		channel, statePending).Scan(&due); err != nil {
		return time.Time{}, fmt.Errorf("read next due notification of %s: %w", channel, err)
	}
	return due.Time, nil
}

// countPending counts the channels' rows not yet sent, given up, silenced
// or cancelled.
func countPending(ctx context.Context, db bun.IDB, channels []string) (int, error) {
	var n int
	err := db.QueryRowContext(ctx, `SELECT count(*) FROM notification_outbox WHERE state = ? AND channel = ANY(?::text[])`,
		statePending, pgdialect.Array(channels)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count pending notifications: %w", err)
	}
	return n, nil
}

// pruneOutbox deletes finished rows older than keep and gives up rows
// still pending giveUp after they fell due, of every channel: a channel
// deleted or renamed since has no dispatcher to do it, and a day-old
// notification is no use on any robot.
func pruneOutbox(ctx context.Context, db bun.IDB, now time.Time, keep, giveUp time.Duration) (deleted, abandoned int64, err error) {
	res, err := db.ExecContext(ctx, `
		UPDATE notification_outbox SET state = ?, last_error = ?, done_at = ? WHERE state = ? AND due_at < ?`,
		stateFailed, fmt.Sprintf("not sent within %v of its due time", giveUp), now, statePending, now.Add(-giveUp))
	if err != nil {
		return 0, 0, fmt.Errorf("give up stale notifications: %w", err)
	}
	abandoned, _ = res.RowsAffected()
	res, err = db.ExecContext(ctx, `DELETE FROM notification_outbox WHERE state <> ? AND done_at < ?`, statePending, now.Add(-keep))
	if err != nil {
		return 0, abandoned, fmt.Errorf("prune notification outbox: %w", err)
	}
	deleted, _ = res.RowsAffected()
	return deleted, abandoned, nil
}
