package resolvers

import (
	"context"
	"errors"
	"strings"
	"time"

	dfigures "github.com/towerhq/tower/domain/figures"
	"github.com/towerhq/tower/domain/twin"
	"github.com/towerhq/tower/events"
	"github.com/towerhq/tower/graph/model"
	"github.com/towerhq/tower/internal/storage"
)

// maxDrillWindow bounds the window of a drill-down or an export.
const maxDrillWindow = 31 * 24 * time.Hour

// OrderFilter reads the orders query's filter (also the export's) for the
// caller: the set behind a figure with its window, the view's channel,
// shop and warehouse, and the caller's scopes, which narrow everything.
func (r *Resolver) OrderFilter(ctx context.Context, in *model.OrderFilter) (storage.Filter, error) {
	f := storage.Filter{Scope: caller(ctx).Scopes}
	if in == nil {
		return f, nil
	}
	one := func(s *string) []string {
		if s == nil || strings.TrimSpace(*s) == "" {
			return nil
		}
		return []string{strings.TrimSpace(*s)}
	}
	if in.Stage != nil {
		f.Stage = twin.Stage(*in.Stage)
	}
	if in.Channel != nil {
		f.Channel = strings.TrimSpace(*in.Channel)
	}
	f.Shops, f.Warehouses = one(in.Shop), one(in.Warehouse)
	f.UpdatedFrom, f.UpdatedTo = in.UpdatedFrom, in.UpdatedTo
	for _, s := range in.Stages {
		f.Drill.Stages = append(f.Drill.Stages, twin.Stage(s))
	}
	if in.Set != nil {
		set, err := dfigures.ParseSet(string(*in.Set))
		if err != nil {
			return f, badInput("set", err.Error())
		}
		f.Drill.Set = set
	}
	switch {
	case in.From != nil && in.To != nil:
		if !in.From.Before(*in.To) {
			return f, badInput("to", "to must be after from")
		}
		if in.To.Sub(*in.From) > maxDrillWindow {
			return f, badInput("to", "a window of orders is at most 31 days")
		}
		f.Drill.From, f.Drill.To = *in.From, *in.To
	case in.From != nil || in.To != nil:
		return f, badInput("from", "give both from and to, or neither")
	case f.Drill.Set == dfigures.SetLateShip || f.Drill.Set == dfigures.SetAbnormal:
		return f, badInput("from", f.Drill.Set.String()+" needs a window: from and to")
	}
	f.Drill.Now = r.Now()
	if r.Figures != nil {
		f.Drill.SLA = r.Figures.BacklogSLA()
		if f.Drill.Set == dfigures.SetAbnormal {
			tags, err := r.Figures.ExceptionTags(ctx)
			if err != nil {
				return f, err
			}
			f.ExceptionTags = tags
		}
	}
	return f, nil
}

// OrderOf is an order as the caller may see it in a list (orders, the
// export): personal data masked for every role but admin.
func OrderOf(ctx context.Context, s events.TwinSnapshot) *model.Order {
	return orderOf(s, seesPersonal(ctx, false))
}

// SeesPersonal reports whether the caller sees personal data unmasked in a
// list.
func SeesPersonal(ctx context.Context) bool { return seesPersonal(ctx, false) }

// InputError reports whether err is a refusal of the caller's input, with
// its field and message (the export answers 400 with them).
func InputError(err error) (field, msg string, ok bool) {
	var ce *codedError
	if errors.As(err, &ce) && ce.code == CodeBadUserInput {
		return ce.field, ce.msg, true
	}
	return "", "", false
}

// TimeZone is the zone the caller reads times in: their own, else the
// business zone.
func (r *Resolver) TimeZone(ctx context.Context) (string, error) { return r.timeZone(ctx) }

func (r *Resolver) timeZone(ctx context.Context) (string, error) {
	def := "Asia/Shanghai"
	if r.Figures != nil {
		def = r.Figures.Settings().Location.String()
	}
	if r.Auth == nil {
		return def, nil
	}
	tz, err := r.Auth.TimeZoneOf(ctx, caller(ctx).UserID)
	if err != nil || tz == "" {
		return def, err
	}
	return tz, nil
}
