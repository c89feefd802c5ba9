package projection

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/domain/twin"
)

// TwinSource gives the twins to those who judge them outside a projection
// batch (deadline timers, which fire in the timer scheduler's transaction)
// and tags their orders, so that the projection stays the only writer of
// orders. It implements detection.TwinSource.
type TwinSource struct{}

// NewTwinSource returns the projection's twin source.
func NewTwinSource() *TwinSource { return &TwinSource{} }

// Current locks the twins of keys in tx and returns each as of every event
// Tower has stored for its order, folded in by the projection yet or not:
// under a burst an awaited event may be committed but not projected, and
// judging without it would raise a false alarm. Nothing is written; the
// projection folds those events in when their messages come.
//
// Twins another transaction holds (the projection, writing them) are not
// waited for: they come back in busy. Waiting would risk a deadlock, since
// the caller holds the timer rows it claimed and the projection, which
// locks twins then timers, may be waiting for them. Keys of no stored
// order are in neither map.
func (*TwinSource) Current(ctx context.Context, tx bun.Tx, keys []order.Key) (twins map[order.Key]*twin.Twin, busy map[order.Key]bool, err error) {
	twins, busy, err = lockAvailable(ctx, tx.Tx, keys)
	if err != nil {
		return nil, nil, err
	}
	if err := catchUp(ctx, tx.Tx, twins); err != nil {
		return nil, nil, err
	}
	return twins, busy, nil
}

// AddTags adds tags to orders the caller has locked (through Current) and
// returns each tagged order's tags after.
func (*TwinSource) AddTags(ctx context.Context, tx bun.Tx, add map[order.Key][]string) (map[order.Key][]string, error) {
	return addTags(ctx, tx.Tx, add)
}

// addTags adds tags to orders, keeping each order's tags sorted and
// distinct, and returns the tagged orders' tags after.
func addTags(ctx context.Context, tx *sql.Tx, add map[order.Key][]string) (map[order.Key][]string, error) {
	out := map[order.Key][]string{}
	var chs, nos, tags []string
	for k, ts := range add {
		for _, t := range ts {
			chs, nos, tags = append(chs, k.Channel), append(nos, k.OrderNo), append(tags, t)
		}
	}
	if len(tags) == 0 {
		return out, nil
	}
	rows, err := tx.QueryContext(ctx, `
		WITH t AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) AS t(channel, order_no, tag))
		UPDATE orders o SET tags = (SELECT array_agg(DISTINCT x ORDER BY x) FROM unnest(o.tags || n.tags) x)
		FROM (SELECT channel, order_no, array_agg(tag) AS tags FROM t GROUP BY channel, order_no) n
		WHERE o.channel = n.channel AND o.order_no = n.order_no
		RETURNING o.channel, o.order_no, o.tags`, chs, nos, tags)
	if err != nil {
		return nil, fmt.Errorf("tag orders: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k order.Key
		var ts []string
		if err := rows.Scan(&k.Channel, &k.OrderNo, pgdialect.Array(&ts)); err != nil {
			return nil, fmt.Errorf("tag orders: %w", err)
		}
		out[k] = ts
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("tag orders: %w", err)
	}
	return out, nil
}

// lockAvailable locks and reads the twins of keys, skipping those another
// transaction holds: those come back in busy.
func lockAvailable(ctx context.Context, tx *sql.Tx, keys []order.Key) (map[order.Key]*twin.Twin, map[order.Key]bool, error) {
	out := map[order.Key]*twin.Twin{}
	busy := map[order.Key]bool{}
	if len(keys) == 0 {
		return out, busy, nil
	}
	chs, nos := make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		chs[i], nos[i] = k.Channel, k.OrderNo
	}
	rows, err := tx.QueryContext(ctx, `
		SELECT o.channel, o.order_no, o.twin FROM orders o JOIN unnest($1::text[], $2::text[]) AS k(channel, order_no) USING (channel, order_no)
		ORDER BY o.channel, o.order_no
		FOR UPDATE OF o SKIP LOCKED`, chs, nos)
	if err != nil {
		return nil, nil, fmt.Errorf("lock twins: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k order.Key
		var b []byte
		if err := rows.Scan(&k.Channel, &k.OrderNo, &b); err != nil {
			return nil, nil, fmt.Errorf("lock twins: %w", err)
		}
		t := twin.New(k)
		if err := json.Unmarshal(b, t); err != nil {
			return nil, nil, fmt.Errorf("decode twin %s: %w", k, err)
		}
		out[k] = t
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("lock twins: %w", err)
	}
	// Of the rest, those that exist are locked by someone else.
	var mc, mn []string
	for _, k := range keys {
		if out[k] == nil {
			mc, mn = append(mc, k.Channel), append(mn, k.OrderNo)
		}
	}
	if len(mc) == 0 {
		return out, busy, nil
	}
	rows2, err := tx.QueryContext(ctx, `
		SELECT o.channel, o.order_no FROM orders o JOIN unnest($1::text[], $2::text[]) AS k(channel, order_no) USING (channel, order_no)`,
		mc, mn)
	if err != nil {
		return nil, nil, fmt.Errorf("find busy twins: %w", err)
	}
	defer rows2.Close()
	for rows2.Next() {
		var k order.Key
		if err := rows2.Scan(&k.Channel, &k.OrderNo); err != nil {
			return nil, nil, fmt.Errorf("find busy twins: %w", err)
		}
		busy[k] = true
	}
	return out, busy, rows2.Err()
}

// catchUp applies to each twin the stored events of its order that the
// projection has not applied yet: those naming the order, and courier
// events still waiting for their tracking number to be matched.
func catchUp(ctx context.Context, tx *sql.Tx, twins map[order.Key]*twin.Twin) error {
	if len(twins) == 0 {
		return nil
	}
	var chs, nos, tns []string
	byTN := map[string]order.Key{}
	for k, t := range twins {
		chs, nos = append(chs, k.Channel), append(nos, k.OrderNo)
		if tn := t.Details.TrackingNo; tn != "" {
			tns = append(tns, tn)
			byTN[tn] = k
		}
	}
	rows, err := tx.QueryContext(ctx, `
		SELECT source, event_id, kind, system, channel, order_no, occurred_at, recovered, data FROM order_events
		WHERE (channel, order_no) IN (SELECT * FROM unnest($1::text[], $2::text[]))
		UNION ALL
		SELECT source, event_id, kind, system, channel, order_no, occurred_at, recovered, data FROM order_events
		WHERE channel = '' AND data->>'trackingNo' = ANY($3::text[])`, chs, nos, tns)
	if err != nil {
		return fmt.Errorf("catch up stored events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e order.Event
		var data []byte
		if err := rows.Scan(&e.Source, &e.ID, &e.Kind, &e.System, &e.Order.Channel, &e.Order.OrderNo, &e.OccurredAt, &e.Recovered, &data); err != nil {
			return fmt.Errorf("catch up stored events: %w", err)
		}
		if err := json.Unmarshal(data, &e.Data); err != nil {
			continue // not an event the projection could fold either
		}
		if e.Order.Channel == "" {
			k, ok := byTN[e.Data.TrackingNo]
			if !ok {
				continue
			}
			e.Order = k
		}
		if t := twins[e.Order]; t != nil {
			t.Apply(e) // idempotent: events already on the twin change nothing
		}
	}
	return rows.Err()
}
