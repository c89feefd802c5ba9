package events

import (
	"encoding/json"
	"fmt"
	"strconv"
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

// The wire form of a snapshot also carries the order's key beside the
// twin ("key"), so a reader can tell whose twin it is without decoding it.
func (s TwinSnapshot) MarshalJSON() ([]byte, error) {
	return s.appendJSON(nil)
}

func (s TwinSnapshot) appendJSON(b []byte) ([]byte, error) {
	doc := s.Doc
	if doc == nil {
		var err error
		if doc, err = json.Marshal(s.Twin); err != nil {
			return nil, err
		}
	}
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, s.ID, 10)
	if s.Twin != nil {
		k, err := json.Marshal(s.Twin.Key)
		if err != nil {
			return nil, err
		}
		b = append(append(b, `,"key":`...), k...)
	}
	b = append(append(b, `,"twin":`...), doc...)
	tags, err := json.Marshal(s.Tags)
	if err != nil {
		return nil, err
	}
	b = append(append(b, `,"tags":`...), tags...)
	return append(b, '}'), nil
}

// Encode is the payload of c. The twins are written as the projection
// stored them: json.Marshal would re-validate and compact every twin a
// Marshaler returns, which under a burst cost more than encoding them.
func (c TwinChanges) Encode() ([]byte, error) {
	b := make([]byte, 0, 512+len(c.Twins)*1024)
	b = append(b, `{"twins":`...)
	if c.Twins == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, s := range c.Twins {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = s.appendJSON(b); err != nil {
				return nil, fmt.Errorf("encode twin %d: %w", s.ID, err)
			}
		}
		b = append(b, ']')
	}
	rest, err := json.Marshal(struct {
		Backlog   Backlog            `json:"backlog"`
		Alerts    []AlertSnapshot    `json:"alerts,omitempty"`
		WorkItems []WorkItemSnapshot `json:"workItems,omitempty"`
	}{c.Backlog, c.Alerts, c.WorkItems})
	if err != nil {
		return nil, err
	}
	// rest is an object: splice its members in after the twins.
	return append(append(b, ','), rest[1:]...), nil
}

// Backlog is the count of orders per current stage at a moment.
type Backlog struct {
	Counts map[twin.Stage]int64 `json:"counts"`
	At     time.Time            `json:"at"`
}
