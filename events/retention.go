package events

import (
	"context"
	"fmt"
	"time"
)

// pruneBatch bounds the rows one prune statement deletes, so it never
// holds a long transaction (which would hold back every consumer).
const pruneBatch = 5000

// Prune deletes the messages of topic stored more than keep ago, oldest
// first, sparing any that one of the durable consumer groups has not
// acknowledged yet (a group that has never consumed spares them all). The
// poison queue is evidence and is never pruned. Returns how many went.
func (b *PostgresBus) Prune(ctx context.Context, topic string, keep time.Duration, durable []string) (int64, error) {
	if topic == TopicPoison || keep <= 0 {
		return 0, nil
	}
	if durable == nil {
		durable = []string{} // NULL would spare everything
	}
	table, offsets := `"watermill_`+topic+`"`, `"watermill_offsets_`+topic+`"`
	var total int64
	for {
		res, err := b.db.ExecContext(ctx, `
			WITH oldest AS (
				SELECT transaction_id, "offset", created_at FROM `+table+`
				ORDER BY transaction_id, "offset" LIMIT $1
			)
			DELETE FROM `+table+` t USING oldest o
			WHERE t.transaction_id = o.transaction_id AND t."offset" = o."offset"
				AND o.created_at < CURRENT_TIMESTAMP::timestamp - make_interval(secs => $2)
				AND (SELECT count(*) FROM `+offsets+` g WHERE g.consumer_group = ANY($3::text[])) = cardinality($3::text[])
				AND NOT EXISTS (SELECT 1 FROM `+offsets+` g WHERE g.consumer_group = ANY($3::text[])
					AND (o.transaction_id, o."offset") > (g.last_processed_transaction_id, g.offset_acked))`,
			pruneBatch, keep.Seconds(), durable)
		if err != nil {
			return total, fmt.Errorf("prune %s: %w", topic, err)
		}
		n, _ := res.RowsAffected()
		total += n
		if n < pruneBatch {
			return total, nil
		}
	}
}

// Unread is about how many messages of topic consumer group has not
// acknowledged yet: the newest offset minus the group's acknowledged one
// (offsets count up with every message, so the difference is close).
// A group that never consumed has everything unread.
func (b *PostgresBus) Unread(ctx context.Context, topic, group string) (int64, error) {
	table, offsets := `"watermill_`+topic+`"`, `"watermill_offsets_`+topic+`"`
	var n int64
	if err := b.db.QueryRowContext(ctx, `
		SELECT greatest(coalesce((SELECT max("offset") FROM `+table+`), 0)
			- coalesce((SELECT offset_acked FROM `+offsets+` WHERE consumer_group = $1), 0), 0)`, group).Scan(&n); err != nil {
		return 0, fmt.Errorf("unread %s for %s: %w", topic, group, err)
	}
	return n, nil
}
