package ingest

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// pruneBatch bounds one delete, so pruning never holds a long transaction
// (the bus orders by transaction id: a long one holds every consumer back).
const pruneBatch = 5000

// PruneRefused deletes audit rows of unverified deliveries received before
// the cut-off, a batch at a time, and returns how many went. Verified
// deliveries (the record of what was ingested) are kept.
func PruneRefused(ctx context.Context, db bun.IDB, before time.Time) (int64, error) {
	var total int64
	for {
		res, err := db.NewRaw(`DELETE FROM webhook_deliveries WHERE id IN (
			SELECT id FROM webhook_deliveries WHERE NOT verified AND received_at < ? LIMIT ?)`, before, pruneBatch).Exec(ctx)
		if err != nil {
			return total, fmt.Errorf("prune refused deliveries: %w", err)
		}
		n, _ := res.RowsAffected()
		total += n
		if n < pruneBatch {
			return total, nil
		}
	}
}
