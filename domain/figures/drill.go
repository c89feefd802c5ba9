package figures

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/towerhq/tower/domain/twin"
)

// Set names the orders behind a figure: what a view lists when someone
// clicks a number (drill-down), and what its export writes. Each set is the
// same definition the figure counts, so the list has as many orders as the
// tile says (up to the moments between the two reads).
type Set struct{ name string }

// The sets, as the API names them.
var (
	// SetLateShip: the orders of onTimeShip that missed it: paid, not
	// void, their ship-by deadline in the window and passed, and not out
	// of the warehouse by it (still in, or out late).
	SetLateShip = Set{"LATE_SHIP"}
	// SetAbnormal: orders created in the window with an open alert or an
	// exception tag (Abnormal).
	SetAbnormal = Set{"ABNORMAL"}
	// SetWaiting: paid orders still in the warehouse (waiting.of).
	SetWaiting = Set{"WAITING"}
	// SetWaitingOverSLA: of those, the ones paid longer than the SLA ago
	// (waiting.count).
	SetWaitingOverSLA = Set{"WAITING_OVER_SLA"}
	// SetOpenDivergence: open orders with an open divergence alert
	// (openDivergences.count).
	SetOpenDivergence = Set{"OPEN_DIVERGENCE"}
	// SetBacklog: open orders (Backlogged), of the stages asked for when
	// any (the backlog tiles and rows).
	SetBacklog = Set{"BACKLOG"}
)

// Sets lists every set.
var Sets = []Set{SetLateShip, SetAbnormal, SetWaiting, SetWaitingOverSLA, SetOpenDivergence, SetBacklog}

// ErrUnknownSet is returned by ParseSet.
var ErrUnknownSet = fmt.Errorf("unknown set")

// ParseSet reads a set's name ("" is the zero Set: no set, every order).
func ParseSet(s string) (Set, error) {
	if s == "" {
		return Set{}, nil
	}
	for _, x := range Sets {
		if x.name == s {
			return x, nil
		}
	}
	names := make([]string, len(Sets))
	for i, x := range Sets {
		names[i] = x.name
	}
	return Set{}, fmt.Errorf("%w %q (want one of %s)", ErrUnknownSet, s, strings.Join(names, ", "))
}

func (s Set) String() string { return s.name }
func (s Set) IsZero() bool   { return s.name == "" }

// Windowed reports whether the set depends on a window (the others are
// what is open now).
func (s Set) Windowed() bool { return s == SetLateShip || s == SetAbnormal || s.IsZero() }

// Drill is one drill-down: a set, narrowed to stages, over [From, To), as
// of Now, with the SLA of waiting orders.
type Drill struct {
	Set      Set
	Stages   []twin.Stage
	From, To time.Time
	Now      time.Time
	SLA      time.Duration
}

// Candidates are the stages the set's orders can be in (nil: any): what the
// read model's stage index narrows to before Holds decides.
func (d Drill) Candidates() []twin.Stage {
	var out []twin.Stage
	keep := func(s twin.Stage) bool { return len(d.Stages) == 0 || slices.Contains(d.Stages, s) }
	for _, s := range twin.Stages {
		var in bool
		switch d.Set {
		case SetWaiting, SetWaitingOverSLA:
			in = Unshipped(s)
		case SetOpenDivergence, SetBacklog:
			in = Backlogged(s)
		default:
			in = true
		}
		if in && keep(s) {
			out = append(out, s)
		}
	}
	if len(out) == len(twin.Stages) {
		return nil
	}
	if out == nil {
		out = []twin.Stage{} // nothing can match
	}
	return out
}

// Holds reports whether the order of f belongs to the set, as far as its
// twin can tell: the alert and tag conditions (ABNORMAL, OPEN_DIVERGENCE)
// are read where they live, beside it.
func (d Drill) Holds(f *Facts) bool {
	if len(d.Stages) > 0 && !slices.Contains(d.Stages, f.Stage) {
		return false
	}
	switch d.Set {
	case SetLateShip:
		if f.Paid.IsZero() || f.Void || f.ShipBy.IsZero() || f.ShipBy.Before(d.From) || !f.ShipBy.Before(d.To) || f.ShipBy.After(d.Now) {
			return false
		}
		return f.Outbound.IsZero() || f.Outbound.After(f.ShipBy)
	case SetAbnormal:
		return !f.Created.Before(d.From) && f.Created.Before(d.To)
	case SetWaiting, SetWaitingOverSLA:
		if !Unshipped(f.Stage) || f.Paid.IsZero() || !f.Outbound.IsZero() {
			return false
		}
		// As WaitingOver counts: by the minute of payment.
		return d.Set == SetWaiting || !f.Paid.UTC().Truncate(time.Minute).After(d.Now.Add(-d.SLA))
	case SetOpenDivergence, SetBacklog:
		return Backlogged(f.Stage)
	}
	return d.From.IsZero() || (!f.Created.Before(d.From) && f.Created.Before(d.To))
}
