package projection

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/towerhq/tower/domain/order"
)

// Why an event waits.
const (
	reasonUnknownOrder    = "no order with this number yet"
	reasonAmbiguousOrder  = "order number used by several channels"
	reasonUnknownTracking = "tracking number not yet given to an order"
)

// resolve gives every event its full order key, or parks it. Resolved
// events are returned; events that already named their order pass through.
func (p *Twins) resolve(ctx context.Context, w *work, es []order.Event, now time.Time) ([]order.Event, error) {
	var out, unresolved []order.Event
	var nos, tns []string
	for _, e := range es {
		switch e.RefKind() {
		case "":
			out = append(out, e)
		case "order_no":
			unresolved, nos = append(unresolved, e), append(nos, e.Order.OrderNo)
		case "tracking_no":
			unresolved, tns = append(unresolved, e), append(tns, e.Data.TrackingNo)
		default:
			// ValidateRef keeps these out; refuse loudly rather than guess.
			return nil, fmt.Errorf("event %s/%s names no order", e.Source, e.ID)
		}
	}
	if len(unresolved) == 0 {
		return out, nil
	}
	byNo, err := channelsOf(ctx, w, nos)
	if err != nil {
		return nil, err
	}
	byTN, err := ordersOfTracking(ctx, w, tns)
	if err != nil {
		return nil, err
	}
	var parked []parkedEvent
	for _, e := range unresolved {
		switch e.RefKind() {
		case "order_no":
			chs := byNo[e.Order.OrderNo]
			if len(chs) == 1 {
				e.Order.Channel = chs[0]
				out = append(out, e)
				w.refsResolved = append(w.refsResolved, e)
				continue
			}
			reason := reasonUnknownOrder
			if len(chs) > 1 {
				reason = reasonAmbiguousOrder
			}
			parked = append(parked, parkedEvent{e: e, kind: "order_no", value: e.Order.OrderNo, reason: reason})
		case "tracking_no":
			if k, ok := byTN[e.Data.TrackingNo]; ok {
				e.Order = k
				out = append(out, e)
				w.refsResolved = append(w.refsResolved, e)
				continue
			}
			parked = append(parked, parkedEvent{e: e, kind: "tracking_no", value: e.Data.TrackingNo, reason: reasonUnknownTracking})
		}
	}
	if err := park(ctx, w, parked, now); err != nil {
		return nil, err
	}
	for _, pe := range parked {
		p.m.EventsParked.WithLabelValues(pe.kind).Inc()
	}
	return out, nil
}

type parkedEvent struct {
	e                   order.Event
	kind, value, reason string
}

// channelsOf finds the channels that have an order with each number,
// among stored orders and those loaded in this transaction.
func channelsOf(ctx context.Context, w *work, nos []string) (map[string][]string, error) {
	out := map[string][]string{}
	if len(nos) == 0 {
		return out, nil
	}
	rows, err := w.tx.QueryContext(ctx, `SELECT DISTINCT order_no, channel FROM orders WHERE order_no = ANY($1)`, nos)
	if err != nil {
		return nil, fmt.Errorf("resolve order numbers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var no, ch string
		if err := rows.Scan(&no, &ch); err != nil {
			return nil, fmt.Errorf("resolve order numbers: %w", err)
		}
		out[no] = append(out[no], ch)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for k := range w.loaded {
		if slices.Contains(nos, k.OrderNo) && !slices.Contains(out[k.OrderNo], k.Channel) {
			out[k.OrderNo] = append(out[k.OrderNo], k.Channel)
		}
	}
	return out, nil
}

func ordersOfTracking(ctx context.Context, w *work, tns []string) (map[string]order.Key, error) {
	out := map[string]order.Key{}
	if len(tns) == 0 {
		return out, nil
	}
	rows, err := w.tx.QueryContext(ctx, `SELECT tracking_no, channel, order_no FROM tracking_numbers WHERE tracking_no = ANY($1)`, tns)
	if err != nil {
		return nil, fmt.Errorf("resolve tracking numbers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var tn string
		var k order.Key
		if err := rows.Scan(&tn, &k.Channel, &k.OrderNo); err != nil {
			return nil, fmt.Errorf("resolve tracking numbers: %w", err)
		}
		out[tn] = k
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for k, lt := range w.loaded {
		if tn := lt.t.Details.TrackingNo; tn != "" && slices.Contains(tns, tn) {
			out[tn] = k
		}
	}
	return out, nil
}

func park(ctx context.Context, w *work, ps []parkedEvent, now time.Time) error {
	if len(ps) == 0 {
		return nil
	}
	n := len(ps)
	src, id, kind, val, doc, reason := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, p := range ps {
		b, err := json.Marshal(p.e)
		if err != nil {
			return fmt.Errorf("encode parked event: %w", err)
		}
		src[i], id[i], kind[i], val[i], doc[i], reason[i] = p.e.Source, p.e.ID, p.kind, p.value, string(b), p.reason
	}
	_, err := w.tx.ExecContext(ctx, `
		INSERT INTO parked_events (source, event_id, ref_kind, ref_value, event, reason, parked_at)
		SELECT s, i, k, v, e, r, $7 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::text[]) AS t(s, i, k, v, e, r)
		ORDER BY s, i
		ON CONFLICT (source, event_id) DO NOTHING`, src, id, kind, val, doc, reason, now)
	if err != nil {
		return fmt.Errorf("park %d events: %w", n, err)
	}
	return nil
}

// learn records the tracking numbers twins gained and releases parked
// events waiting for them or for the orders loaded in this transaction.
func (w *work) learn(ctx context.Context, now time.Time) ([]order.Event, error) {
	var tns, tchs, tnos, nos []string
	// A tracking number should belong to one order; if several claim it in
	// one batch, the smallest key wins so the outcome does not depend on
	// map order.
	claims := map[string]order.Key{}
	for k, lt := range w.loaded {
		if !lt.changed {
			continue
		}
		if tn := lt.t.Details.TrackingNo; tn != "" && tn != lt.learnt {
			if prev, ok := claims[tn]; !ok || compareKeys(k, prev) < 0 {
				claims[tn] = k
			}
			lt.learnt = tn
		}
		if !lt.found {
			nos = append(nos, k.OrderNo)
		}
	}
	for tn, k := range claims {
		tns, tchs, tnos = append(tns, tn), append(tchs, k.Channel), append(tnos, k.OrderNo)
	}
	if len(tns) > 0 {
		if _, err := w.tx.ExecContext(ctx, `
			INSERT INTO tracking_numbers (tracking_no, channel, order_no, learnt_at)
			SELECT t, c, o, $4 FROM unnest($1::text[], $2::text[], $3::text[]) AS x(t, c, o) ORDER BY t
			ON CONFLICT (tracking_no) DO UPDATE SET channel = excluded.channel, order_no = excluded.order_no, learnt_at = excluded.learnt_at`,
			tns, tchs, tnos, now); err != nil {
			return nil, fmt.Errorf("record tracking numbers: %w", err)
		}
	}
	if len(tns) == 0 && len(nos) == 0 {
		return nil, nil
	}
	rows, err := w.tx.QueryContext(ctx, `
		DELETE FROM parked_events
		WHERE (ref_kind = 'tracking_no' AND ref_value = ANY($1)) OR (ref_kind = 'order_no' AND ref_value = ANY($2))
		RETURNING event`, tns, nos)
	if err != nil {
		return nil, fmt.Errorf("release parked events: %w", err)
	}
	defer rows.Close()
	var out []order.Event
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("release parked events: %w", err)
		}
		var e order.Event
		if err := json.Unmarshal(b, &e); err != nil {
			return nil, fmt.Errorf("decode parked event: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
