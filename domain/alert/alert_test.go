package alert

import (
	"errors"
	"slices"
	"testing"
)

func TestMove(t *testing.T) {
	t.Parallel()
	var zero State
	for _, tc := range []struct {
		from, to State
		changed  bool
		err      error // nil, ErrResolved, or errTransition
	}{
		{Firing, Acknowledged, true, nil},
		{Firing, Resolved, true, nil},
		{Acknowledged, Resolved, true, nil},
		// Same state: nothing to do, not a failure.
		{Firing, Firing, false, nil},
		{Acknowledged, Acknowledged, false, nil},
		// Back to firing: only a new alert fires.
		{Acknowledged, Firing, false, errTransition},
		// A resolved alert is history.
		{Resolved, Firing, false, ErrResolved},
		{Resolved, Acknowledged, false, ErrResolved},
		{Resolved, Resolved, false, ErrResolved},
		// No state is no move.
		{zero, Firing, false, errTransition},
		{Firing, zero, false, errTransition},
		{zero, zero, false, errTransition},
	} {
		t.Run(tc.from.String()+"->"+tc.to.String(), func(t *testing.T) {
			t.Parallel()
			changed, err := Move(tc.from, tc.to)
			if changed != tc.changed {
				t.Errorf("changed = %v, want %v", changed, tc.changed)
			}
			var te *TransitionError
			switch tc.err {
			case nil:
				if err != nil {
					t.Errorf("err = %v, want none", err)
				}
			case errTransition:
				if !errors.As(err, &te) || te.From != tc.from || te.To != tc.to {
					t.Errorf("err = %v, want a TransitionError from %q to %q", err, tc.from, tc.to)
				}
			default:
				if !errors.Is(err, tc.err) {
					t.Errorf("err = %v, want %v", err, tc.err)
				}
			}
		})
	}
}

// errTransition stands for "a *TransitionError" in the table.
var errTransition = errors.New("transition error")

func TestFrom(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		to   State
		want []State
	}{
		{Firing, nil},
		{Acknowledged, []State{Firing}},
		{Resolved, []State{Firing, Acknowledged}},
	} {
		if got := From(tc.to); !slices.Equal(got, tc.want) {
			t.Errorf("From(%s) = %v, want %v", tc.to, got, tc.want)
		}
	}
}

func TestParseState(t *testing.T) {
	t.Parallel()
	for _, s := range States {
		got, err := ParseState(s.String())
		if err != nil || got != s {
			t.Errorf("ParseState(%q) = %v, %v", s, got, err)
		}
	}
	for _, bad := range []string{"", "firing", "OPEN"} {
		if got, err := ParseState(bad); !errors.Is(err, ErrUnknownState) || !got.IsZero() {
			t.Errorf("ParseState(%q) = %v, %v; want the zero state and ErrUnknownState", bad, got, err)
		}
	}
}

func TestOpen(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s    State
		want bool
	}{{Firing, true}, {Acknowledged, true}, {Resolved, false}, {State{}, false}} {
		if got := tc.s.Open(); got != tc.want {
			t.Errorf("%q.Open() = %v, want %v", tc.s, got, tc.want)
		}
	}
}
