package figures

import (
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/domain/twin"
)

// Scope is where an order's figures are counted: its channel, shop,
// warehouse and courier ("" while not known).
type Scope struct {
	Channel   string
	Shop      string
	Warehouse string
	Courier   string
}

// Span is a stretch of time an order spent in one open stage; To is zero
// while it is still there.
type Span struct {
	Stage    twin.Stage
	From, To time.Time
}

// Facts are the moments and attributes of one order the figures count,
// read from its twin. A zero time means it has not happened (as far as the
// twin knows).
type Facts struct {
	Key   order.Key
	Scope Scope
	Stage twin.Stage

	// Created is the twin's earliest event; Paid the first order.paid.
	Created, Paid time.Time
	// InWMS is the first report of the WMS itself (any wms system event):
	// the moment the warehouse knew the order.
	InWMS time.Time
	// Packed is the first wms.packed, with the station and packer it names.
	Packed          time.Time
	Station, Packer string
	// Outbound is when the parcel left the warehouse: the first
	// wms.outbound, or the courier's first report if that came earlier (or
	// the outbound report was lost: a parcel the courier has, has left).
	Outbound time.Time
	// Collected is the first courier.collected; FirstCourier the courier's
	// first report of any kind.
	Collected, FirstCourier time.Time
	// Delivered is the first courier.delivered.
	Delivered time.Time
	// ShipBy and PromisedBy are the channel's deadlines (zero: none given).
	ShipBy, PromisedBy time.Time
	// Void orders never had to ship: cancelled, or refunded before leaving
	// the warehouse. They are left out of the deadline and same-day figures.
	Void bool
	// Spans are the open stages the order went through, oldest first.
	Spans []Span
}

// Backlogged reports whether an order in stage s is part of the open
// backlog: paid or further along, and not final. CREATED (not paid yet) is
// no work for fulfilment.
func Backlogged(s twin.Stage) bool { return s != twin.StageCreated && !s.Final() }

// Unshipped reports whether an order in stage s still has to leave the
// warehouse.
func Unshipped(s twin.Stage) bool {
	switch s {
	case twin.StagePaid, twin.StageInWarehouse, twin.StagePicked, twin.StagePacked:
		return true
	}
	return false
}

// Of reads the facts of t. It is a pure function of the twin's timeline
// (and key), so equal twins give equal facts.
func Of(t *twin.Twin) Facts {
	d := t.Details
	f := Facts{
		Key:   t.Key,
		Scope: Scope{Channel: own(t.Key.Channel), Shop: own(d.Shop), Warehouse: own(d.Warehouse), Courier: own(d.Courier)},
		Stage: t.Stage, Created: t.CreatedAt,
	}
	if d.ShipBy != nil {
		f.ShipBy = d.ShipBy.UTC()
	}
	if d.PromisedBy != nil {
		f.PromisedBy = d.PromisedBy.UTC()
	}
	first := func(dst *time.Time, at time.Time) {
		if dst.IsZero() {
			*dst = at
		}
	}
	stage := twin.StageCreated
	for i := range t.Timeline {
		e := &t.Timeline[i]
		switch e.Kind {
		case order.KindPaid:
			first(&f.Paid, e.At)
		case order.KindWMSPacked:
			if f.Packed.IsZero() {
				f.Packed, f.Station, f.Packer = e.At, e.Data.Station, e.Data.Packer
			}
		case order.KindWMSOutbound:
			first(&f.Outbound, e.At)
		case order.KindCollected:
			first(&f.Collected, e.At)
		case order.KindDelivered:
			first(&f.Delivered, e.At)
		}
		switch e.System {
		case order.SystemWMS:
			first(&f.InWMS, e.At)
		case order.SystemCourier:
			first(&f.FirstCourier, e.At)
			first(&f.Outbound, e.At)
		}
		// The same fold as the twin's stage, keeping the spans.
		next := twin.Transition(stage, e.Kind)
		if next != stage {
			if n := len(f.Spans); n > 0 && f.Spans[n-1].To.IsZero() {
				f.Spans[n-1].To = e.At
			}
			if Backlogged(next) {
				f.Spans = append(f.Spans, Span{Stage: next, From: e.At})
			}
			stage = next
		}
	}
	f.Void = f.Stage == twin.StageCancelled || (f.Stage == twin.StageRefunded && f.Outbound.IsZero())
	return f
}
