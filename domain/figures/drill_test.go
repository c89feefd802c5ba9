package figures

import (
	"errors"
	"testing"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/domain/twin"
)

// TestDrillHolds: a set holds an order exactly when the figure it drills
// into counts it, on hand-built sequences in every arrival order: late
// shipments against onTimeShip's due minus on time, waiting (and over the
// SLA) against the open gauges.
func TestDrillHolds(t *testing.T) {
	s := DefaultSettings()
	now := at(1000)
	sla := 24 * time.Hour
	from, to := at(0), at(2400)
	wh := func(e order.Event) order.Event { return sys(e, order.SystemWMS) }
	cases := []struct {
		name                      string
		events                    []order.Event
		late, waiting, overSLA    bool
		backlog, abnormalInWindow bool
	}{
		{"paid, deadline passed, still in the warehouse", []order.Event{
			ev(order.KindPaid, 10, order.Data{ShipBy: ptr(at(600))}),
			wh(ev(order.KindWMSReceived, 20, order.Data{})),
		}, true, true, false, true, true},
		{"out after the deadline", []order.Event{
			ev(order.KindPaid, 10, order.Data{ShipBy: ptr(at(600))}),
			wh(ev(order.KindWMSOutbound, 700, order.Data{})),
		}, true, false, false, true, true},
		{"out on time", []order.Event{
			ev(order.KindPaid, 10, order.Data{ShipBy: ptr(at(600))}),
			wh(ev(order.KindWMSOutbound, 500, order.Data{})),
		}, false, false, false, true, true},
		{"deadline still ahead", []order.Event{
			ev(order.KindPaid, 10, order.Data{ShipBy: ptr(at(2200))}),
		}, false, true, false, true, true},
		{"cancelled: void", []order.Event{
			ev(order.KindPaid, 10, order.Data{ShipBy: ptr(at(600))}),
			ev(order.KindCancelled, 20, order.Data{}),
		}, false, false, false, false, true},
		{"waiting longer than the SLA", []order.Event{
			ev(order.KindPaid, -500, order.Data{}),
		}, false, true, true, true, false},
	}
	for _, c := range cases {
		for how, es := range arrivals(c.events) {
			t.Run(c.name+", "+how, func(t *testing.T) {
				tw := twin.New(key)
				for _, e := range es {
					tw.Apply(e)
				}
				f := Of(tw)
				flows, open := Counts{}, Counts{}
				Contribute(&f, s, 1, flows, open)
				var due, onTime int64
				var rows []OpenRow
				for k, n := range flows {
					if k.At.Before(from) || !k.At.Before(to) || k.At.After(now) {
						continue
					}
					switch k.Metric {
					case ShipDue:
						due += n
					case ShipOnTime:
						onTime += n
					}
				}
				for k, n := range open {
					rows = append(rows, OpenRow{Metric: k.Metric, Label: k.Label, Since: k.At, N: n})
				}
				w := WaitingOver(rows, now, sla)
				d := func(set Set) Drill { return Drill{Set: set, From: from, To: to, Now: now, SLA: sla} }
				for _, x := range []struct {
					set        Set
					holds, was bool
				}{
					{SetLateShip, d(SetLateShip).Holds(&f), due-onTime == 1},
					{SetWaiting, d(SetWaiting).Holds(&f), w.Den == 1},
					{SetWaitingOverSLA, d(SetWaitingOverSLA).Holds(&f), w.Num == 1},
					{SetBacklog, d(SetBacklog).Holds(&f), OpenCount(rows) == 1},
				} {
					if x.holds != x.was {
						t.Errorf("%s holds %v, the figure counts it %v", x.set, x.holds, x.was)
					}
				}
				for _, x := range []struct {
					set  Set
					want bool
				}{{SetLateShip, c.late}, {SetWaiting, c.waiting}, {SetWaitingOverSLA, c.overSLA}, {SetBacklog, c.backlog}, {SetAbnormal, c.abnormalInWindow}} {
					if got := d(x.set).Holds(&f); got != x.want {
						t.Errorf("%s: %v, want %v", x.set, got, x.want)
					}
				}
			})
		}
	}
}

func TestDrillCandidatesAndParse(t *testing.T) {
	if c := (Drill{Set: SetWaiting}).Candidates(); len(c) != 4 {
		t.Errorf("waiting candidates %v", c)
	}
	if c := (Drill{}).Candidates(); c != nil {
		t.Errorf("no set: %v, want any stage", c)
	}
	if c := (Drill{Set: SetWaiting, Stages: []twin.Stage{twin.StageDelivered}}).Candidates(); c == nil || len(c) != 0 {
		t.Errorf("waiting and delivered: %v, want none", c)
	}
	if s, err := ParseSet("LATE_SHIP"); err != nil || s != SetLateShip {
		t.Errorf("ParseSet: %v %v", s, err)
	}
	if _, err := ParseSet("ALL"); !errors.Is(err, ErrUnknownSet) {
		t.Errorf("ParseSet(ALL): %v", err)
	}
}
