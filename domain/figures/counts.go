package figures

import (
	"strconv"
	"time"

	"github.com/towerhq/tower/domain/twin"
)

// Metric names one kind of count.
type Metric string

// Flow metrics: things that happened, counted at the minute they happened
// (and rolled up per hour). Each order counts at most once per metric.
const (
	// Orders created (the twin's first event), and paid: inflow.
	Created Metric = "created"
	Paid    Metric = "paid"
	// Orders that left the warehouse (Facts.Outbound), and were delivered.
	Outbound  Metric = "outbound"
	Delivered Metric = "delivered"
	// On-time ship, counted at the ship-by deadline, for paid orders with
	// one that are not void: due; of those, out by the deadline (on time)
	// or after it (late). Due minus both is still in the warehouse: late
	// once the deadline has passed.
	ShipDue    Metric = "ship_due"
	ShipOnTime Metric = "ship_on_time"
	ShipLate   Metric = "ship_late"
	// On-time delivery, the same at the promised-by deadline.
	DeliveryDue    Metric = "delivery_due"
	DeliveryOnTime Metric = "delivery_on_time"
	DeliveryLate   Metric = "delivery_late"
	// Same-day shipping, counted at payment: orders paid before the
	// cut-off of their local day (not void), and those of them out of the
	// warehouse before that day ended.
	SameDayEligible Metric = "sameday_eligible"
	SameDayDone     Metric = "sameday_done"
	// Durations, one histogram bin each (the label is the bin), counted
	// when the second moment happened.
	PaidToWMS          Metric = "paid_to_wms"
	PaidToOutbound     Metric = "paid_to_outbound"
	OutboundToCollect  Metric = "outbound_to_collected"
	PaidToFirstCourier Metric = "paid_to_first_courier"
	// Stage flow: an order entering (at its start) and leaving (at its
	// end) an open stage; the label is the stage. The backlog of a stage at
	// any moment is what entered minus what left before it.
	StageIn  Metric = "stage_in"
	StageOut Metric = "stage_out"
	// Packing throughput, at the first wms.packed: label "" for all, and
	// "station:X" and "packer:Y" when the event names them.
	Packed Metric = "packed"
)

// Open metrics: gauges of what is open now, counted at the moment it
// started (Cell.At), so that the age of the backlog can be read.
const (
	// Open orders per stage (the label), since they entered it.
	Open Metric = "open"
	// Paid orders not out of the warehouse yet, since they were paid.
	Waiting Metric = "waiting"
)

// Label prefixes of Packed.
const (
	StationLabel = "station:"
	PackerLabel  = "packer:"
)

// Cell is one counter: metric (and label) in a scope at a minute (UTC).
type Cell struct {
	Scope  Scope
	At     time.Time
	Metric Metric
	Label  string
}

// Counts are counters by cell.
type Counts map[Cell]int64

func (c Counts) add(s Scope, at time.Time, m Metric, label string, n int64) {
	if at.IsZero() {
		return
	}
	k := Cell{Scope: s, At: at.UTC().Truncate(time.Minute), Metric: m, Label: label}
	if v := c[k] + n; v != 0 {
		c[k] = v
	} else {
		delete(c, k)
	}
}

// Contribute adds what the order of f counts, n times (n = -1 takes it
// away), to flows and open.
func Contribute(f *Facts, s Settings, n int64, flows, open Counts) {
	sc := f.Scope
	flows.add(sc, f.Created, Created, "", n)
	flows.add(sc, f.Paid, Paid, "", n)
	flows.add(sc, f.Outbound, Outbound, "", n)
	flows.add(sc, f.Delivered, Delivered, "", n)

	if !f.Paid.IsZero() && !f.Void {
		deadline(flows, sc, f.ShipBy, f.Outbound, ShipDue, ShipOnTime, ShipLate, n)
		deadline(flows, sc, f.PromisedBy, f.Delivered, DeliveryDue, DeliveryOnTime, DeliveryLate, n)
		if eligible, done := SameDay(f.Paid, f.Outbound, s); eligible {
			flows.add(sc, f.Paid, SameDayEligible, "", n)
			if done {
				flows.add(sc, f.Paid, SameDayDone, "", n)
			}
		}
	}

	duration(flows, sc, PaidToWMS, f.Paid, f.InWMS, n)
	duration(flows, sc, PaidToOutbound, f.Paid, f.Outbound, n)
	duration(flows, sc, OutboundToCollect, f.Outbound, f.Collected, n)
	duration(flows, sc, PaidToFirstCourier, f.Paid, f.FirstCourier, n)

	for _, sp := range f.Spans {
		flows.add(sc, sp.From, StageIn, string(sp.Stage), n)
		flows.add(sc, sp.To, StageOut, string(sp.Stage), n)
	}
	if !f.Packed.IsZero() {
		flows.add(sc, f.Packed, Packed, "", n)
		if f.Station != "" {
			flows.add(sc, f.Packed, Packed, StationLabel+f.Station, n)
		}
		if f.Packer != "" {
			flows.add(sc, f.Packed, Packed, PackerLabel+f.Packer, n)
		}
	}

	if k := len(f.Spans); k > 0 && f.Spans[k-1].To.IsZero() && Backlogged(f.Stage) {
		open.add(sc, f.Spans[k-1].From, Open, string(f.Stage), n)
	}
	if Unshipped(f.Stage) && !f.Paid.IsZero() && f.Outbound.IsZero() {
		open.add(sc, f.Paid, Waiting, "", n)
	}
}

// deadline counts one order against a deadline (none: nothing).
func deadline(c Counts, sc Scope, due, done time.Time, mDue, mOnTime, mLate Metric, n int64) {
	if due.IsZero() {
		return
	}
	c.add(sc, due, mDue, "", n)
	switch {
	case done.IsZero():
	case !done.After(due):
		c.add(sc, due, mOnTime, "", n)
	default:
		c.add(sc, due, mLate, "", n)
	}
}

// duration counts to − from in its histogram bin, at to.
func duration(c Counts, sc Scope, m Metric, from, to time.Time, n int64) {
	if from.IsZero() || to.IsZero() {
		return
	}
	c.add(sc, to, m, strconv.Itoa(Bin(to.Sub(from))), n)
}

// SameDay says whether an order paid at paid is held to same-day shipping
// (paid before the cut-off of its local day) and, if so, whether it left
// the warehouse (out, zero if not yet) before that day ended.
func SameDay(paid, out time.Time, s Settings) (eligible, done bool) {
	lp := paid.In(s.Location)
	day := time.Date(lp.Year(), lp.Month(), lp.Day(), 0, 0, 0, 0, s.Location)
	if lp.Sub(day) >= s.Cutoff {
		return false, false
	}
	end := day.AddDate(0, 0, 1)
	return true, !out.IsZero() && out.Before(end)
}

// Delta is what a twin change adds to the counts: the contribution of
// after minus that of before (nil: the order was new). Cells that do not
// change are left out.
func Delta(before, after *twin.Twin, s Settings) (flows, open Counts) {
	flows, open = Counts{}, Counts{}
	if after != nil {
		fa := Of(after)
		Contribute(&fa, s, 1, flows, open)
	}
	if before != nil {
		fb := Of(before)
		Contribute(&fb, s, -1, flows, open)
	}
	return flows, open
}

// Recompute is the contribution of every twin: what the rollups must hold
// when built from scratch.
func Recompute(twins []*twin.Twin, s Settings) (flows, open Counts) {
	flows, open = Counts{}, Counts{}
	for _, t := range twins {
		f := Of(t)
		Contribute(&f, s, 1, flows, open)
	}
	return flows, open
}
