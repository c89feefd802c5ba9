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

// DeliveryFilter narrows ListDeliveries; zero values leave a field open.
type DeliveryFilter struct {
	Robot  string
	Status string
	// Before pages: rows with a smaller id only.
	Before int64
	First  int
}

// ListDeliveries reads the delivery log newest first (by id, which follows
// the insertion order), for the IT view: what went to which robot, and how
// it ended.
func ListDeliveries(ctx context.Context, db bun.IDB, f DeliveryFilter) ([]Delivery, error) {
	var out []Delivery
	q := db.NewSelect().Model(&out).OrderExpr("id DESC").Limit(int64(f.First))
	if f.Robot != "" {
		q = q.Where("channel = ?", f.Robot)
	}
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if f.Before > 0 {
		q = q.Where("id < ?", f.Before)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, fmt.Errorf("list robot deliveries: %w", err)
	}
	return out, nil
}
