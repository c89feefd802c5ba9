package ingest

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/towerhq/tower/domain/order"
)

// RecordResolvedOrders writes, inside tx, the order key into stored events
// that came without it (naming their order only by number or tracking
// number) once the projection has resolved it, so that per-order queries
// and backtests find them. Ingest owns order_events; this is the one
// change made to an event after it is stored.
func RecordResolvedOrders(ctx context.Context, tx *sql.Tx, es []order.Event) error {
	if len(es) == 0 {
		return nil
	}
	n := len(es)
	src, id, ch, no := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, e := range es {
		src[i], id[i], ch[i], no[i] = e.Source, e.ID, e.Order.Channel, e.Order.OrderNo
	}
	if _, err := tx.ExecContext(ctx, `
		UPDATE order_events o SET channel = r.c, order_no = r.n
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS r(s, i, c, n)
		WHERE o.source = r.s AND o.event_id = r.i`, src, id, ch, no); err != nil {
		return fmt.Errorf("record resolved orders of %d events: %w", n, err)
	}
	return nil
}
