// Package alert is an alert's lifecycle: its states and which moves between
// them are allowed. Plain Go, no I/O: internal/alerts stores alerts and asks
// Move before changing one, so the rules live here and nowhere else.
//
//	FIRING ──► ACKNOWLEDGED ──► RESOLVED
//	  │                            ▲
//	  └────────────────────────────┘
//
// A rule's condition raises an alert FIRING; people acknowledge it (the
// robots stop escalating) and resolve it, or the awaited event resolves it.
// A resolved alert is history: it never changes again, and the next time the
// condition holds a new alert is raised.
package alert

import (
	"errors"
	"fmt"
)

// State is where an alert is in its lifecycle. The zero State is no state;
// the values are those stored and the GraphQL enum's.
type State struct{ s string }

var (
	Firing       = State{"FIRING"}
	Acknowledged = State{"ACKNOWLEDGED"}
	Resolved     = State{"RESOLVED"}
)

// States lists every state, in lifecycle order.
var States = []State{Firing, Acknowledged, Resolved}

// ErrUnknownState is returned by ParseState for a string that names no state.
var ErrUnknownState = errors.New("unknown alert state")

// ParseState reads a stored state.
func ParseState(s string) (State, error) {
	for _, st := range States {
		if st.s == s {
			return st, nil
		}
	}
	return State{}, fmt.Errorf("%w %q", ErrUnknownState, s)
}

func (s State) String() string { return s.s }

// IsZero reports whether s is the zero State.
func (s State) IsZero() bool { return s == State{} }

// Open reports whether the alert still stands (not resolved): a rule has at
// most one open alert per order.
func (s State) Open() bool { return s == Firing || s == Acknowledged }

// ErrResolved is returned for any move out of Resolved.
var ErrResolved = errors.New("alert is already resolved")

// TransitionError is a move the lifecycle forbids, other than one out of
// Resolved (ErrResolved).
type TransitionError struct{ From, To State }

func (e *TransitionError) Error() string {
	return fmt.Sprintf("alert cannot move from %q to %q", e.From, e.To)
}

// Move says whether an alert in state from may move to state to. A move to
// the state the alert is already in changes nothing and is no error
// (acknowledging twice), except for Resolved: resolving a resolved alert
// is ErrResolved, as every move out of it is.
func Move(from, to State) (changed bool, err error) {
	switch {
	case from == Resolved:
		return false, ErrResolved
	case from.IsZero() || to.IsZero() || (from == Acknowledged && to == Firing):
		return false, &TransitionError{From: from, To: to}
	case from == to:
		return false, nil
	}
	return true, nil
}

// From lists the states from which an alert moves to state to: the states a
// conditional update of many alerts at once may touch.
func From(to State) []State {
	var out []State
	for _, s := range States {
		if changed, err := Move(s, to); err == nil && changed {
			out = append(out, s)
		}
	}
	return out
}
