package resolvers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/uptrace/bun"

	"github.com/towerhq/tower/domain/access"
	"github.com/towerhq/tower/domain/alert"
	"github.com/towerhq/tower/domain/incident"
	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/events"
	"github.com/towerhq/tower/graph/model"
	"github.com/towerhq/tower/internal/alerts"
	"github.com/towerhq/tower/internal/detection"
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
	if err == nil && to == incident.Acknowledged {
		err = r.acknowledgeMembers(ctx, n)
	}
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

// acknowledgeMembers acknowledges an acknowledged incident's firing member
// alerts that the caller sees: whoever took on the cause took on its
// orders, and the robots stop repeating them. Alerts outside the caller's
// scope are left to those who see them.
func (r *Resolver) acknowledgeMembers(ctx context.Context, id int64) error {
	var firing []int64
	after := ""
	for {
		page, err := r.IncidentStore.Members(ctx, r.DB, id, caller(ctx).Scopes, 500, after)
		if err != nil {
			return err
		}
		for _, a := range page.Items {
			if a.State == alert.Firing.String() {
				firing = append(firing, a.ID)
			}
		}
		if !page.HasNext {
			break
		}
		after = page.Cursors[len(page.Cursors)-1]
	}
	if len(firing) == 0 {
		return nil
	}
	_, err := r.change(ctx, func(tx bun.Tx) (detection.Outcome, error) {
		var out detection.Outcome
		for _, aid := range firing {
			a, err := alerts.SetState(ctx, tx, aid, alert.Acknowledged, viewerName(ctx), r.Time.Now())
			// Resolved meanwhile, or moved on: nothing to acknowledge.
			if errors.Is(err, alerts.ErrNotFound) || errors.Is(err, alert.ErrResolved) || errors.As(err, new(*alert.TransitionError)) {
				continue
			}
			if err != nil {
				return out, fmt.Errorf("acknowledge incident %d's alert %d: %w", id, aid, err)
			}
			out.Alerts = append(out.Alerts, a)
		}
		return out, nil
	})
	return err
}
