package figures

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/towerhq/tower/domain/twin"
)

// Row is a stored flow count: one metric (and label) summed over the
// scopes asked for, in the bucket [At, At+Span) (a minute or an hour).
type Row struct {
	At     time.Time
	Span   time.Duration
	Metric Metric
	Label  string
	N      int64
}

// Rate is Num out of Den.
type Rate struct{ Num, Den int64 }

// Value is Num/Den; ok is false when there is nothing to measure.
func (r Rate) Value() (v float64, ok bool) {
	if r.Den <= 0 {
		return 0, false
	}
	return float64(max(r.Num, 0)) / float64(r.Den), true
}

// Summary are the headline figures of a window.
type Summary struct {
	Created, Paid, Outbound, Delivered int64
	// OnTimeShip: out by the ship-by deadline, of the orders whose deadline
	// fell in the window and has passed (or that already left).
	OnTimeShip Rate
	// OnTimeDelivery: delivered by the promised-by deadline, likewise.
	OnTimeDelivery Rate
	// SameDay: left the warehouse the day they were paid, of the orders
	// paid in the window before the cut-off.
	SameDay Rate
	// Durations, by the moment the second event happened in the window.
	PaidToWMS, PaidToOutbound, OutboundToCollected, PaidToFirstCourier Histogram
	// Packed orders, and per station and per packer.
	Packed            int64
	Stations, Packers map[string]int64
}

// Summarize reads the headline figures from the rows that cover a window
// (each bucket once). now decides which deadlines have passed: an order
// still in the warehouse counts as late only once its bucket has ended.
func Summarize(rows []Row, now time.Time) Summary {
	s := Summary{Stations: map[string]int64{}, Packers: map[string]int64{}}
	type bucket struct {
		at   time.Time
		span time.Duration
	}
	type dl struct{ due, onTime, late int64 }
	ship, deliver := map[bucket]*dl{}, map[bucket]*dl{}
	get := func(m map[bucket]*dl, r *Row) *dl {
		k := bucket{r.At, r.Span}
		if m[k] == nil {
			m[k] = &dl{}
		}
		return m[k]
	}
	for i := range rows {
		r := &rows[i]
		switch r.Metric {
		case Created:
			s.Created += r.N
		case Paid:
			s.Paid += r.N
		case Outbound:
			s.Outbound += r.N
		case Delivered:
			s.Delivered += r.N
		case ShipDue:
			get(ship, r).due += r.N
		case ShipOnTime:
			get(ship, r).onTime += r.N
		case ShipLate:
			get(ship, r).late += r.N
		case DeliveryDue:
			get(deliver, r).due += r.N
		case DeliveryOnTime:
			get(deliver, r).onTime += r.N
		case DeliveryLate:
			get(deliver, r).late += r.N
		case SameDayEligible:
			s.SameDay.Den += r.N
		case SameDayDone:
			s.SameDay.Num += r.N
		case PaidToWMS:
			addBin(&s.PaidToWMS, r)
		case PaidToOutbound:
			addBin(&s.PaidToOutbound, r)
		case OutboundToCollect:
			addBin(&s.OutboundToCollected, r)
		case PaidToFirstCourier:
			addBin(&s.PaidToFirstCourier, r)
		case Packed:
			switch {
			case r.Label == "":
				s.Packed += r.N
			case strings.HasPrefix(r.Label, StationLabel):
				s.Stations[strings.TrimPrefix(r.Label, StationLabel)] += r.N
			case strings.HasPrefix(r.Label, PackerLabel):
				s.Packers[strings.TrimPrefix(r.Label, PackerLabel)] += r.N
			}
		}
	}
	rate := func(m map[bucket]*dl) Rate {
		var r Rate
		for b, d := range m {
			r.Num += d.onTime
			r.Den += d.onTime + d.late
			if !b.at.Add(b.span).After(now) {
				r.Den += max(d.due-d.onTime-d.late, 0) // past due, not done: late
			}
		}
		return r
	}
	s.OnTimeShip, s.OnTimeDelivery = rate(ship), rate(deliver)
	return s
}

func addBin(h *Histogram, r *Row) {
	if b, err := strconv.Atoi(r.Label); err == nil {
		h.Add(b, r.N)
	}
}

// Hour is one hour of the series the views draw.
type Hour struct {
	At                              time.Time
	Created, Paid, Outbound, Packed int64
	// Backlog is the open orders per stage at the end of the hour.
	Backlog map[twin.Stage]int64
}

// Hourly is the series of the hours from from's hour up to to, from hour
// rows that start at from's hour and reach to the newest (rows after to
// are needed for the backlog), and the open orders per stage now. The
// backlog at the end of hour H is what is open now, minus what entered
// after H, plus what left after H.
func Hourly(rows []Row, openNow map[twin.Stage]int64, from, to time.Time) []Hour {
	first := from.UTC().Truncate(time.Hour)
	var out []Hour
	idx := map[time.Time]int{}
	for h := first; h.Before(to); h = h.Add(time.Hour) {
		idx[h] = len(out)
		out = append(out, Hour{At: h})
	}
	// net[i] is what entered minus what left during hour i; after, during
	// the hours after the series.
	net := make([]map[twin.Stage]int64, len(out))
	for i := range net {
		net[i] = map[twin.Stage]int64{}
	}
	after := map[twin.Stage]int64{}
	for _, r := range rows {
		h := r.At.UTC().Truncate(time.Hour)
		if h.Before(first) {
			continue
		}
		i, in := idx[h]
		switch r.Metric {
		case StageIn, StageOut:
			d := r.N
			if r.Metric == StageOut {
				d = -d
			}
			if in {
				net[i][twin.Stage(r.Label)] += d
			} else {
				after[twin.Stage(r.Label)] += d
			}
			continue
		}
		if !in {
			continue
		}
		switch r.Metric {
		case Created:
			out[i].Created += r.N
		case Paid:
			out[i].Paid += r.N
		case Outbound:
			out[i].Outbound += r.N
		case Packed:
			if r.Label == "" {
				out[i].Packed += r.N
			}
		}
	}
	// Walk back from now: the end of the last hour is now minus what
	// happened after it; each earlier end is the next one minus that
	// hour's net.
	level := map[twin.Stage]int64{}
	for st, n := range openNow {
		level[st] += n
	}
	for st, d := range after {
		level[st] -= d
	}
	for i := len(out) - 1; i >= 0; i-- {
		out[i].Backlog = map[twin.Stage]int64{}
		for st, n := range level {
			if n != 0 {
				out[i].Backlog[st] = n
			}
		}
		for st, d := range net[i] {
			level[st] -= d
		}
	}
	return out
}

// OpenRow is a stored gauge: n orders open since At (a minute).
type OpenRow struct {
	Metric Metric
	Label  string
	Since  time.Time
	N      int64
}

// StageBacklog is what is open in one stage now.
type StageBacklog struct {
	Stage twin.Stage
	Count int64
	// Oldest is when the longest-waiting order entered the stage; AgeP50
	// and AgeP90 are the median and 90th percentile of the time spent in
	// it so far (to the minute).
	Oldest         time.Time
	AgeP50, AgeP90 time.Duration
}

// Backlog reads the open stages from the gauges, in stage order.
func Backlog(rows []OpenRow, now time.Time) []StageBacklog {
	by := map[twin.Stage][]OpenRow{}
	for _, r := range rows {
		if r.Metric == Open && r.N > 0 {
			st := twin.Stage(r.Label)
			by[st] = append(by[st], r)
		}
	}
	var out []StageBacklog
	for _, st := range twin.Stages {
		rs := by[st]
		if len(rs) == 0 {
			continue
		}
		slices.SortFunc(rs, func(a, b OpenRow) int { return a.Since.Compare(b.Since) })
		b := StageBacklog{Stage: st, Oldest: rs[0].Since}
		for _, r := range rs {
			b.Count += r.N
		}
		// Ages descend as Since ascends: the q-quantile of ages is the
		// (1-q)-quantile of the Since times.
		b.AgeP50 = max(now.Sub(weighted(rs, b.Count, 0.5)), 0)
		b.AgeP90 = max(now.Sub(weighted(rs, b.Count, 0.1)), 0)
		out = append(out, b)
	}
	return out
}

// weighted is the q-quantile of rs' Since times, each counted N times.
func weighted(rs []OpenRow, total int64, q float64) time.Time {
	rank := int64(q*float64(total) + 0.5) // nearest rank
	rank = min(max(rank, 1), total)
	var seen int64
	for _, r := range rs {
		seen += r.N
		if seen >= rank {
			return r.Since
		}
	}
	return rs[len(rs)-1].Since
}

// OpenCount is the open orders now (every backlogged stage).
func OpenCount(rows []OpenRow) int64 {
	var n int64
	for _, r := range rows {
		if r.Metric == Open {
			n += r.N
		}
	}
	return n
}

// WaitingOver is the share of paid orders still in the warehouse that have
// waited longer than sla since payment.
func WaitingOver(rows []OpenRow, now time.Time, sla time.Duration) Rate {
	var r Rate
	for _, row := range rows {
		if row.Metric != Waiting {
			continue
		}
		r.Den += row.N
		// Since is the minute of payment: an order paid at 10:00:59 has
		// waited at least since 10:00.
		if !row.Since.After(now.Add(-sla)) {
			r.Num += row.N
		}
	}
	return r
}
