package events

import "time"

// TopicIncidents carries incidents opened, changed and resolved (payload:
// IncidentChanges), for the notifier and the live views.
const TopicIncidents = "incidents_v1"

// Incident events a snapshot may carry: what the robots are told of.
const (
	IncidentOpened   = "opened"
	IncidentResolved = "resolved"
)

// IncidentChanges is the payload of TopicIncidents: incidents changed in
// one transaction.
type IncidentChanges struct {
	Incidents []IncidentSnapshot `json:"incidents"`
}

// IncidentSnapshot is an incident as stored after a change.
type IncidentSnapshot struct {
	ID        int64  `json:"id"`
	Cause     string `json:"cause"`
	Key       string `json:"key"`
	Warehouse string `json:"warehouse,omitempty"`
	State     string `json:"state"`
	Severity  string `json:"severity"`
	// Event is IncidentOpened or IncidentResolved when the change is one;
	// "" for a new member, an acknowledgement and the like.
	Event          string     `json:"event,omitempty"`
	StartedAt      time.Time  `json:"startedAt"`
	LastSeenAt     time.Time  `json:"lastSeenAt"`
	OpenedAt       time.Time  `json:"openedAt"`
	Members        int        `json:"members"`
	Orders         int        `json:"orders"`
	Money          int64      `json:"money"`
	Shops          []string   `json:"shops"`
	Channels       []string   `json:"channels"`
	AcknowledgedAt *time.Time `json:"acknowledgedAt,omitempty"`
	AcknowledgedBy string     `json:"acknowledgedBy,omitempty"`
	ResolvedAt     *time.Time `json:"resolvedAt,omitempty"`
	ResolvedBy     string     `json:"resolvedBy,omitempty"`
}
