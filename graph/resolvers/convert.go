package resolvers

import (
	"strconv"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/domain/twin"
	"github.com/towerhq/tower/events"
	"github.com/towerhq/tower/graph/model"
)

// orderOf converts a stored twin for the client. Personal data is masked
// unless showPII (see seesPersonal: who is asking, and how).
func orderOf(s events.TwinSnapshot, showPII bool) *model.Order {
	t := s.Twin
	d := t.Details
	o := &model.Order{
		ID:         strconv.FormatInt(s.ID, 10),
		Channel:    t.Key.Channel,
		OrderNo:    t.Key.OrderNo,
		Stage:      model.Stage(t.Stage),
		Tags:       s.Tags,
		Currency:   nonEmpty(d.Currency),
		Shop:       nonEmpty(d.Shop),
		Warehouse:  nonEmpty(d.Warehouse),
		Courier:    nonEmpty(d.Courier),
		TrackingNo: nonEmpty(d.TrackingNo),
		ShipBy:     d.ShipBy,
		PromisedBy: d.PromisedBy,
		CreatedAt:  t.CreatedAt,
		UpdatedAt:  t.UpdatedAt,
		Systems:    []*model.SystemStatus{},
		Timeline:   make([]*model.TimelineEntry, 0, len(t.Timeline)),
		Twin:       t,
	}
	if o.Tags == nil {
		o.Tags = []string{}
	}
	if d.Amount != nil {
		a := d.Amount.String()
		o.Amount = &a
	}
	if showPII {
		o.BuyerIP, o.BuyerID = nonEmpty(d.BuyerIP), nonEmpty(d.BuyerID)
	} else {
		o.BuyerIP, o.BuyerID = nonEmpty(order.MaskIP(d.BuyerIP)), nonEmpty(order.MaskID(d.BuyerID))
	}
	if d.Receiver != nil {
		r := *d.Receiver
		if !showPII {
			r = r.Masked()
		}
		o.Receiver = &model.Receiver{
			Name: nonEmpty(r.Name), Phone: nonEmpty(r.Phone), Province: nonEmpty(r.Province),
			City: nonEmpty(r.City), District: nonEmpty(r.District), Address: nonEmpty(r.Address),
		}
	}
	for _, sys := range order.Systems {
		st, ok := t.Systems[sys]
		if !ok {
			continue
		}
		at := st.At
		o.Systems = append(o.Systems, &model.SystemStatus{System: string(sys), Status: st.Status, At: &at, Source: st.Source})
	}
	for _, e := range t.Timeline {
		o.Timeline = append(o.Timeline, &model.TimelineEntry{
			At: e.At, System: string(e.System), Type: string(e.Kind), Source: e.Source,
			EventID: e.EventID, Recovered: e.Recovered,
		})
	}
	return o
}

func backlogOf(b events.Backlog) *model.Backlog {
	out := &model.Backlog{At: b.At, Stages: make([]*model.StageCount, 0, len(twin.Stages))}
	if out.At.IsZero() {
		out.At = time.Unix(0, 0).UTC()
	}
	for _, s := range twin.Stages {
		n := int(b.Counts[s])
		out.Stages = append(out.Stages, &model.StageCount{Stage: model.Stage(s), Count: n})
		if !s.Final() {
			out.Total += n
		}
	}
	return out
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
