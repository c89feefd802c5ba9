package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/towerhq/tower/domain/access"
	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/domain/twin"
	"github.com/towerhq/tower/events"
)

// OrderRow is a row of the orders read model.
type OrderRow struct {
	bun.BaseModel `bun:"table:orders"`

	ID          int64           `bun:"id,pk,autoincrement"`
	Channel     string          `bun:"channel"`
	OrderNo     string          `bun:"order_no"`
	Stage       string          `bun:"stage"`
	Twin        json.RawMessage `bun:"twin,type:jsonb"`
	Tags        []string        `bun:"tags,array"`
	CreatedAt   time.Time       `bun:"created_at"`
	UpdatedAt   time.Time       `bun:"updated_at"`
	ProjectedAt time.Time       `bun:"projected_at"`
	Version     int             `bun:"version"`
}

// Snapshot decodes the row's twin.
func (r *OrderRow) Snapshot() (events.TwinSnapshot, error) {
	t := twin.New(order.Key{Channel: r.Channel, OrderNo: r.OrderNo})
	if err := json.Unmarshal(r.Twin, t); err != nil {
		return events.TwinSnapshot{}, fmt.Errorf("decode twin %d: %w", r.ID, err)
	}
	return events.TwinSnapshot{ID: r.ID, Twin: t, Tags: r.Tags}, nil
}

// ErrNotFound is returned when no order matches.
var ErrNotFound = errors.New("not found")

// Orders reads the twins read model.
type Orders struct{ db *bun.DB }

func NewOrders(db *bun.DB) *Orders { return &Orders{db: db} }

// Get returns the twin of k, or ErrNotFound.
func (o *Orders) Get(ctx context.Context, k order.Key) (events.TwinSnapshot, error) {
	var r OrderRow
	err := o.db.NewSelect().Model(&r).Where("channel = ? AND order_no = ?", k.Channel, k.OrderNo).Scan(ctx)
	return snapshotOf(&r, err, k.String())
}

// GetMany returns the twins of keys that exist, in one read.
func (o *Orders) GetMany(ctx context.Context, keys []order.Key) (map[order.Key]events.TwinSnapshot, error) {
	out := make(map[order.Key]events.TwinSnapshot, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	chs, nos := make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		chs[i], nos[i] = k.Channel, k.OrderNo
	}
	var rows []OrderRow
	if err := o.db.NewSelect().Model(&rows).
		Where("(channel, order_no) IN (SELECT * FROM unnest(?::text[], ?::text[]))", pgdialect.Array(chs), pgdialect.Array(nos)).
		Scan(ctx); err != nil {
		return nil, fmt.Errorf("get %d orders: %w", len(keys), err)
	}
	for i := range rows {
		s, err := rows[i].Snapshot()
		if err != nil {
			return nil, err
		}
		out[s.Twin.Key] = s
	}
	return out, nil
}

// GetByID returns the twin with id, or ErrNotFound.
func (o *Orders) GetByID(ctx context.Context, id int64) (events.TwinSnapshot, error) {
	var r OrderRow
	err := o.db.NewSelect().Model(&r).Where("id = ?", id).Scan(ctx)
	return snapshotOf(&r, err, strconv.FormatInt(id, 10))
}

func snapshotOf(r *OrderRow, err error, what string) (events.TwinSnapshot, error) {
	if errors.Is(err, sql.ErrNoRows) {
		return events.TwinSnapshot{}, ErrNotFound
	}
	if err != nil {
		return events.TwinSnapshot{}, fmt.Errorf("get order %s: %w", what, err)
	}
	return r.Snapshot()
}

// Backlog reads the per-stage counts the projection keeps.
func (o *Orders) Backlog(ctx context.Context, now time.Time) (events.Backlog, error) {
	var rows []struct {
		Stage string `bun:"stage"`
		Count int64  `bun:"count"`
	}
	if err := o.db.NewSelect().Table("stage_counts").Column("stage", "count").Scan(ctx, &rows); err != nil {
		return events.Backlog{}, fmt.Errorf("read backlog: %w", err)
	}
	b := events.Backlog{Counts: make(map[twin.Stage]int64, len(rows)), At: now}
	for _, r := range rows {
		b.Counts[twin.Stage(r.Stage)] = r.Count
	}
	return b, nil
}

// ScopedBacklog counts the orders within scope per current stage. The
// projection keeps counts for everything only; a scoped caller's are
// counted from the orders themselves (indexed by channel and warehouse).
func (o *Orders) ScopedBacklog(ctx context.Context, scope access.Scopes, now time.Time) (events.Backlog, error) {
	var rows []struct {
		Stage string `bun:"stage"`
		Count int64  `bun:"count"`
	}
	q := o.db.NewSelect().Table("orders").ColumnExpr("stage, count(*) AS count").Group("stage")
	if len(scope.Channels) > 0 {
		q = q.Where("channel = ANY(?)", pgdialect.Array(scope.Channels))
	}
	if len(scope.Warehouses) > 0 {
		q = q.Where("warehouse = ANY(?)", pgdialect.Array(scope.Warehouses))
	}
	if err := q.Scan(ctx, &rows); err != nil {
		return events.Backlog{}, fmt.Errorf("read scoped backlog: %w", err)
	}
	b := events.Backlog{Counts: make(map[twin.Stage]int64, len(rows)), At: now}
	for _, r := range rows {
		b.Counts[twin.Stage(r.Stage)] = r.Count
	}
	return b, nil
}

// Warehouse returns the warehouse order k ships from ("" if none yet, or
// no such order).
func (o *Orders) Warehouse(ctx context.Context, k order.Key) (string, error) {
	var w sql.NullString
	err := o.db.NewSelect().Table("orders").Column("warehouse").Where("channel = ? AND order_no = ?", k.Channel, k.OrderNo).Scan(ctx, &w)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("warehouse of %s: %w", k, err)
	}
	return w.String, nil
}

// scopeSQL is the condition keeping rows of a table with channel and
// order_no columns (alias t) to the orders within scope.
func scopeSQL(scope access.Scopes) (string, []any) {
	var q string
	var args []any
	if len(scope.Channels) > 0 {
		q += ` AND t.channel = ANY(?)`
		args = append(args, pgdialect.Array(scope.Channels))
	}
	if len(scope.Warehouses) > 0 {
		q += ` AND EXISTS (SELECT 1 FROM orders o WHERE o.channel = t.channel AND o.order_no = t.order_no AND o.warehouse = ANY(?))`
		args = append(args, pgdialect.Array(scope.Warehouses))
	}
	return q, args
}

// ReconcileRun is the latest reconciliation pull of a source.
type ReconcileRun struct {
	Source     string     `bun:"source"`
	StartedAt  time.Time  `bun:"started_at"`
	FinishedAt *time.Time `bun:"finished_at"`
	Listed     int        `bun:"listed"`
	Recovered  int        `bun:"recovered"`
	Error      *string    `bun:"error"`
}

// LastReconcileRuns returns each source's latest pull.
func (o *Orders) LastReconcileRuns(ctx context.Context) (map[string]ReconcileRun, error) {
	var rows []ReconcileRun
	if err := o.db.NewRaw(`SELECT DISTINCT ON (source) source, started_at, finished_at, listed, recovered, error
		FROM reconcile_runs ORDER BY source, started_at DESC`).Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("last reconcile runs: %w", err)
	}
	out := make(map[string]ReconcileRun, len(rows))
	for _, r := range rows {
		out[r.Source] = r
	}
	return out, nil
}

// Lookup is an order found by LookupOrders, and by what.
type Lookup struct {
	Order events.TwinSnapshot
	// Via is how it matched: order_no, tracking_no or phone_tail (the
	// first of these when several did).
	Via string
}

// lookupVia are the ways LookupOrders matches, by preference.
var lookupVia = []string{"order_no", "tracking_no", "phone_tail"}

// LookupOrders finds the orders customer service means by text: an order
// number, a tracking number (any the order has had), or 4 digits that end
// the receiver's phone; in channel only when channel is not empty. Newest
// (most recently updated) first, at most first. Each way is one index
// range read in that order, cut at first before they are merged (a phone
// tail matches thousands of orders in a large history): orders by
// order_no, tracking_numbers, orders by (phone_tail, updated_at).
func (o *Orders) LookupOrders(ctx context.Context, text, channel string, first int) ([]Lookup, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, nil
	}
	var rows []struct {
		OrderRow
		Pref int `bun:"pref"`
	}
	err := o.db.NewRaw(`
		WITH hits AS (
			(SELECT id, updated_at, 0 AS pref FROM orders WHERE order_no = ?0 AND (?1 = '' OR channel = ?1)
				ORDER BY updated_at DESC, id DESC LIMIT ?3)
			UNION ALL
			(SELECT o.id, o.updated_at, 1 FROM tracking_numbers t JOIN orders o ON o.channel = t.channel AND o.order_no = t.order_no
				WHERE t.tracking_no = ?0 AND (?1 = '' OR o.channel = ?1) ORDER BY o.updated_at DESC, o.id DESC LIMIT ?3)
			UNION ALL
			(SELECT id, updated_at, 2 FROM orders WHERE ?2 AND phone_tail = ?0 AND phone_tail <> '' AND (?1 = '' OR channel = ?1)
				ORDER BY updated_at DESC, id DESC LIMIT ?3)
		), best AS (
			SELECT id, min(pref) AS pref, max(updated_at) AS updated_at FROM hits GROUP BY id
			ORDER BY updated_at DESC, id DESC LIMIT ?3
		)
		SELECT o.id, o.channel, o.order_no, o.stage, o.twin, o.tags, o.created_at, o.updated_at, o.projected_at, o.version, best.pref
		FROM best JOIN orders o USING (id)
		ORDER BY o.updated_at DESC, o.id DESC`,
		text, channel, isPhoneTail(text), first).Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("look up orders by %q: %w", text, err)
	}
	out := make([]Lookup, 0, len(rows))
	for i := range rows {
		s, err := rows[i].Snapshot()
		if err != nil {
			return nil, err
		}
		out = append(out, Lookup{Order: s, Via: lookupVia[rows[i].Pref]})
	}
	return out, nil
}

// isPhoneTail: exactly 4 digits.
func isPhoneTail(s string) bool {
	if len(s) != 4 {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
