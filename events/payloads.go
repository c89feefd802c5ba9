package events

import (
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/domain/twin"
)

// OrderEventsBatch is the payload of TopicOrderEvents: the events one ingest
// commit stored for the first time (duplicates never reach the bus).
type OrderEventsBatch struct {
	Events []order.Event `json:"events"`
}

// TwinChanges is the payload of TopicTwinChanges.
type TwinChanges struct {
	Twins   []TwinSnapshot `json:"twins"`
	Backlog Backlog        `json:"backlog"`
}

// TwinSnapshot is a twin as stored after a change.
type TwinSnapshot struct {
	ID   int64      `json:"id"`
	Twin *twin.Twin `json:"twin"`
	Tags []string   `json:"tags"`
}

// Backlog is the count of orders per current stage at a moment.
type Backlog struct {
	Counts map[twin.Stage]int64 `json:"counts"`
	At     time.Time            `json:"at"`
}
