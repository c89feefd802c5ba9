package resolvers

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/towerhq/tower/domain/access"
	"github.com/towerhq/tower/domain/incident"
	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/events"
	"github.com/towerhq/tower/graph/model"
	"github.com/towerhq/tower/internal/incidents"
)

func incidentOf(in events.IncidentSnapshot) *model.Incident {
	m := &model.Incident{
		ID: strconv.FormatInt(in.ID, 10), Cause: model.IncidentCause(strings.ToUpper(in.Cause)), Key: in.Key,
		State: model.IncidentState(in.State), Severity: in.Severity, StartedAt: in.StartedAt, LastSeenAt: in.LastSeenAt,
		OpenedAt: in.OpenedAt, MemberCount: in.Members, AcknowledgedAt: in.AcknowledgedAt, ResolvedAt: in.ResolvedAt,
		BlastRadius: &model.BlastRadius{Orders: in.Orders, Money: order.Money(in.Money).String(), Shops: nonNil(in.Shops),
			Channels: nonNil(in.Channels)},
	}
	if in.Warehouse != "" {
		m.Warehouse = &in.Warehouse
	}
	if in.AcknowledgedBy != "" {
		m.AcknowledgedBy = &in.AcknowledgedBy
	}
	if in.ResolvedBy != "" {
		m.ResolvedBy = &in.ResolvedBy
	}
	return m
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// incidentVisible is incident.VisibleTo for a pushed snapshot.
func incidentVisible(sc access.Scopes, in events.IncidentSnapshot) bool {
	c, err := incident.ParseCause(in.Cause)
	if err != nil {
		return false
	}
	return incident.VisibleTo(sc, incident.Key{Cause: c, Value: in.Key}, in.Channels)
}

func (r *Resolver) setIncidentState(ctx context.Context, id string, to incident.State) (*model.Incident, error) {
	n, err := parseID("id", id)
	if err != nil {
		return nil, err
	}
	// Outside the caller's scope an incident does not exist.
	if _, err := r.IncidentStore.Get(ctx, r.DB, n, caller(ctx).Scopes); errors.Is(err, incidents.ErrNotFound) {
		return nil, &codedError{code: CodeNotFound, msg: "no incident " + id}
	} else if err != nil {
		return nil, err
	}
	in, err := r.IncidentStore.SetState(ctx, n, to, viewerName(ctx))
	switch {
	case errors.Is(err, incidents.ErrNotFound):
		return nil, &codedError{code: CodeNotFound, msg: "no incident " + id}
	case errors.Is(err, incident.ErrResolved):
		return nil, &codedError{code: CodeConflict, msg: "the incident is already resolved"}
	case errors.As(err, new(*incident.TransitionError)):
		return nil, &codedError{code: CodeConflict, msg: err.Error()}
	case err != nil:
		return nil, err
	}
	return incidentOf(in), nil
}
