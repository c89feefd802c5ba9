package events

import (
	"encoding/json"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/domain/twin"
)

// OrderEventsBatch is the payload of TopicOrderEvents: the events one ingest
// commit stored for the first time (duplicates never reach the bus).
type OrderEventsBatch struct {
	Events []order.Event `json:"events"`
}

// TwinChanges is the payload of TopicTwinChanges: what one transaction
// changed, for the live views.
type TwinChanges struct {
	Twins   []TwinSnapshot `json:"twins"`
	Backlog Backlog        `json:"backlog"`
	// Alerts raised or changed in the same transaction.
	Alerts []AlertSnapshot `json:"alerts,omitempty"`
	// WorkItems created or changed in the same transaction.
	WorkItems []WorkItemSnapshot `json:"workItems,omitempty"`
}

// WorkItemSnapshot is a work-queue item as stored after a change.
type WorkItemSnapshot struct {
	ID        int64      `json:"id"`
	Queue     string     `json:"queue"`
	Channel   string     `json:"channel"`
	OrderNo   string     `json:"orderNo"`
	Rule      string     `json:"rule"`
	Status    string     `json:"status"`
	Assignee  string     `json:"assignee,omitempty"`
	Notes     []WorkNote `json:"notes"`
	CreatedAt time.Time  `json:"createdAt"`
	UpdatedAt time.Time  `json:"updatedAt"`
}

// WorkNote is a note on a work item.
type WorkNote struct {
	At   time.Time `json:"at"`
	By   string    `json:"by"`
	Text string    `json:"text"`
}

// AlertChanges is the payload of TopicAlerts: alerts raised or changed,
// for the notifier.
type AlertChanges struct {
	Alerts []AlertSnapshot `json:"alerts"`
}

// AlertSnapshot is an alert as stored after a change.
type AlertSnapshot struct {
	ID             int64      `json:"id"`
	Rule           string     `json:"rule"`
	Kind           string     `json:"kind"`
	Severity       string     `json:"severity"`
	State          string     `json:"state"`
	Channel        string     `json:"channel"`
	OrderNo        string     `json:"orderNo"`
	Scope          string     `json:"scope"`
	Summary        string     `json:"summary"`
	ConditionSince time.Time  `json:"conditionSince"`
	RaisedAt       time.Time  `json:"raisedAt"`
	AcknowledgedAt *time.Time `json:"acknowledgedAt,omitempty"`
	AcknowledgedBy string     `json:"acknowledgedBy,omitempty"`
	ResolvedAt     *time.Time `json:"resolvedAt,omitempty"`
	ResolvedBy     string     `json:"resolvedBy,omitempty"`
	// Raised is true for a new alert, false for a change.
	Raised bool `json:"raised"`
}

// TwinSnapshot is a twin as stored after a change.
type TwinSnapshot struct {
	ID   int64      `json:"id"`
	Twin *twin.Twin `json:"twin"`
	Tags []string   `json:"tags"`
	// Doc, when set, is Twin already encoded (as the projection stored it)
	// and is written in its place.
	Doc json.RawMessage `json:"-"`
}

func (s TwinSnapshot) MarshalJSON() ([]byte, error) {
	if s.Doc == nil {
		type plain TwinSnapshot
		return json.Marshal(plain(s))
	}
	return json.Marshal(struct {
		ID   int64           `json:"id"`
		Twin json.RawMessage `json:"twin"`
		Tags []string        `json:"tags"`
	}{s.ID, s.Doc, s.Tags})
}

// Backlog is the count of orders per current stage at a moment.
type Backlog struct {
	Counts map[twin.Stage]int64 `json:"counts"`
	At     time.Time            `json:"at"`
}
