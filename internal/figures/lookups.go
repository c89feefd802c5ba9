package figures

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/towerhq/tower/domain/order"
)

// Ways a lookup found its order.
const (
	ViaOrderNo    = "order_no"
	ViaTrackingNo = "tracking_no"
	ViaPhoneTail  = "phone_tail"
)

// RecordLookup notes that customer service looked order k up (via one of
// the Via values), for the repeated-lookup figure.
func RecordLookup(ctx context.Context, db bun.IDB, k order.Key, via, actor string, at time.Time) error {
	if _, err := db.ExecContext(ctx, `INSERT INTO order_lookups (channel, order_no, at, via, actor) VALUES (?, ?, ?, ?, ?)`,
		k.Channel, k.OrderNo, at, via, actor); err != nil {
		return fmt.Errorf("figures: record lookup of %s: %w", k, err)
	}
	return nil
}
