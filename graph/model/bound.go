package model

import (
	"context"
	"time"
)

// Alert is bound by hand (gqlgen.yml) so resolvers can find its order.
type Alert struct {
	ID             string     `json:"id"`
	Rule           string     `json:"rule"`
	Kind           string     `json:"kind"`
	Severity       string     `json:"severity"`
	State          AlertState `json:"state"`
	Scope          string     `json:"scope"`
	Summary        string     `json:"summary"`
	ConditionSince time.Time  `json:"conditionSince"`
	RaisedAt       time.Time  `json:"raisedAt"`
	AcknowledgedAt *time.Time `json:"acknowledgedAt,omitempty"`
	AcknowledgedBy *string    `json:"acknowledgedBy,omitempty"`
	ResolvedAt     *time.Time `json:"resolvedAt,omitempty"`
	ResolvedBy     *string    `json:"resolvedBy,omitempty"`
	// The order, resolved on demand.
	Channel, OrderNo string `json:"-"`
	// Orders, when set, reads the orders of the whole list at once.
	Orders OrderLoader `json:"-"`
}

// WorkItem is bound by hand so resolvers can find its order.
type WorkItem struct {
	ID        string      `json:"id"`
	Queue     string      `json:"queue"`
	Rule      string      `json:"rule"`
	Status    string      `json:"status"`
	Assignee  *string     `json:"assignee,omitempty"`
	Notes     []*WorkNote `json:"notes"`
	CreatedAt time.Time   `json:"createdAt"`
	UpdatedAt time.Time   `json:"updatedAt"`

	Channel, OrderNo string      `json:"-"`
	Orders           OrderLoader `json:"-"`
}

// OrderLoader finds the orders of a list of alerts or work items with one
// read for the whole list, the first time one of them is asked for.
type OrderLoader interface {
	Load(ctx context.Context, channel, orderNo string) (*Order, error)
}
