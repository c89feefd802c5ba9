package notifications

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// Delivery log statuses.
const (
	StatusSent        = "sent"
	StatusFailed      = "failed"       // transient (RetryAt set) or given up (RetryAt zero)
	StatusRateLimited = "rate_limited" // the robot refused for now; RetryAt is when the channel resumes
	StatusSilenced    = "silenced"     // a group suppressed by a silence: counted, not sent
	StatusFolded      = "folded"       // member alerts of an incident: the incident's message tells of them
)

// Delivery is one row of notification_deliveries: one send attempt of one
// robot message, or one silenced group.
type Delivery struct {
	bun.BaseModel `bun:"table:notification_deliveries,alias:nd"`

	ID      int64  `bun:"id,pk,autoincrement"`
	Channel string `bun:"channel,notnull"`
	// GroupKey is "rule|scope" ("escalation:rule|scope" for a
	// re-notification); a merged digest lists its groups' keys joined by
	// ", ".
	GroupKey   string `bun:"group_key,notnull"`
	AlertCount int    `bun:"alert_count,notnull"`
	Status     string `bun:"status,notnull"`
	Error      string `bun:"error,nullzero"`
	// Attempt is 1 for the first try of a message (0 for silenced rows).
	Attempt   int       `bun:"attempt,notnull"`
	CreatedAt time.Time `bun:"created_at,notnull"`
	LatencyMS int64     `bun:"latency_ms,notnull"`
	// RetryAt is when the next attempt is due (failed, to be retried) or the
	// channel resumes (rate_limited); NULL otherwise.
	RetryAt time.Time `bun:"retry_at,nullzero"`
	// Cost is the robot rate slots the attempt took (0 for silenced
	// rows): every node counts them to keep the robot within its limit.
	Cost int `bun:"cost,notnull"`
}

func writeDeliveries(ctx context.Context, db bun.IDB, rows []Delivery) error {
	if len(rows) == 0 {
		return nil
	}
	if _, err := db.NewInsert().Model(&rows).Exec(ctx); err != nil {
		return fmt.Errorf("write %d delivery log rows: %w", len(rows), err)
	}
	return nil
}
