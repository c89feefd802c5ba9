package events

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/uptrace/bun"
)

// SeekToEnd makes consumer group start after the newest committed message
// of topic, instead of replaying the topic from its beginning.
func SeekToEnd(ctx context.Context, db *bun.DB, topic, group string) error {
	return seekToEnd(ctx, db.DB, topic, group)
}

func seekToEnd(ctx context.Context, db interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, topic, group string) error {
	q := fmt.Sprintf(`
		INSERT INTO "watermill_offsets_%[1]s" (consumer_group, offset_acked, last_processed_transaction_id)
		SELECT $1, "offset", transaction_id FROM "watermill_%[1]s"
		WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())
		ORDER BY transaction_id DESC, "offset" DESC LIMIT 1
		ON CONFLICT (consumer_group) DO UPDATE SET
			offset_acked = excluded.offset_acked,
			last_processed_transaction_id = excluded.last_processed_transaction_id`, topic)
	if _, err := db.ExecContext(ctx, q, group); err != nil {
		return fmt.Errorf("seek %s for %s: %w", topic, group, err)
	}
	return nil
}
