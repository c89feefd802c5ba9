package notifications

import (
	"context"
	"time"

	"github.com/uptrace/bun"
)

// Delivery log statuses.
const (
	StatusSent        = "sent"
	StatusFailed      = "failed"       // transient (RetryAt set) or given up (RetryAt zero)
	StatusRateLimited = "rate_limited" // the robot refused for now; RetryAt is when the channel resumes
	StatusSilenced    = "silenced"     // a group suppressed by a silence: counted, not sent
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
}

func (d *Dispatcher) writeDeliveries(ctx context.Context, rows []Delivery) {
	if len(rows) == 0 || d.db == nil {
		return
	}
	// The log must be written even while shutting down.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := d.db.NewInsert().Model(&rows).Exec(ctx); err != nil {
		d.log.Error("write notification delivery log", "rows", len(rows), "err", err)
	}
}
