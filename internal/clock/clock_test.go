package clock

import (
	"testing"
	"time"
)

func TestScaled(t *testing.T) {
	wall := NewManual(time.Date(2026, 11, 11, 20, 0, 0, 0, time.UTC))
	s := NewScaled(wall.Now)
	start := s.Now()
	wall.Advance(time.Second)
	if got := s.Now().Sub(start); got != time.Second {
		t.Fatalf("speed 1: %s", got)
	}
	if err := s.SetSpeed(60); err != nil {
		t.Fatal(err)
	}
	before := s.Now()
	wall.Advance(10 * time.Second)
	if got := s.Now().Sub(before); got != 10*time.Minute {
		t.Fatalf("speed 60: 10s of wall time gave %s", got)
	}
	// Changing speed keeps time continuous.
	at := s.Now()
	_ = s.SetSpeed(1)
	if !s.Now().Equal(at) {
		t.Fatal("speed change jumped the clock")
	}
	for _, bad := range []float64{0, -1, 1e6} {
		if s.SetSpeed(bad) == nil {
			t.Errorf("speed %g accepted", bad)
		}
	}
	day := time.Date(2026, 11, 11, 0, 0, 0, 0, time.UTC)
	s.Set(day)
	if !s.Now().Equal(day) {
		t.Fatal("Set")
	}
}
