// Package clock is Tower's one source of time. Production runs on the real
// clock; a server in simulation mode runs a scaled clock that a simulator
// can speed up, so a whole day of deadlines plays out in minutes. Every
// component takes a Clock (or its Now) instead of calling time.Now.
package clock

import (
	"errors"
	"sync"
	"time"
)

// Clock tells the time.
type Clock interface {
	Now() time.Time
}

// Real is the wall clock.
type Real struct{}

func (Real) Now() time.Time { return time.Now() }

// Scaled runs Speed times faster than the wall clock from the moment it is
// (re)based; changing the speed keeps the current instant continuous.
type Scaled struct {
	mu       sync.RWMutex
	baseReal time.Time
	baseSim  time.Time
	speed    float64
	wall     func() time.Time
}

// NewScaled starts at the wall clock's now with speed 1.
func NewScaled(wall func() time.Time) *Scaled {
	if wall == nil {
		wall = time.Now
	}
	now := wall()
	return &Scaled{baseReal: now, baseSim: now, speed: 1, wall: wall}
}

func (s *Scaled) Now() time.Time {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.at(s.wall())
}

func (s *Scaled) at(real time.Time) time.Time {
	return s.baseSim.Add(time.Duration(float64(real.Sub(s.baseReal)) * s.speed))
}

// Speed is the current factor.
func (s *Scaled) Speed() float64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.speed
}

// ErrBadSpeed is returned for a speed that is not in (0, 100000].
var ErrBadSpeed = errors.New("clock speed must be in (0, 100000]")

// SetSpeed changes the factor from now on.
func (s *Scaled) SetSpeed(speed float64) error {
	if speed <= 0 || speed > 100_000 {
		return ErrBadSpeed
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	real := s.wall()
	s.baseSim, s.baseReal, s.speed = s.at(real), real, speed
	return nil
}

// Set jumps the clock to t (simulation start), keeping the speed.
func (s *Scaled) Set(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.baseSim, s.baseReal = t, s.wall()
}

// Manual is a clock tests move by hand.
type Manual struct {
	mu  sync.Mutex
	now time.Time
}

func NewManual(t time.Time) *Manual { return &Manual{now: t} }

func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

// Advance moves the clock forward by d.
func (m *Manual) Advance(d time.Duration) {
	m.mu.Lock()
	m.now = m.now.Add(d)
	m.mu.Unlock()
}

// Set moves the clock to t.
func (m *Manual) Set(t time.Time) {
	m.mu.Lock()
	m.now = t
	m.mu.Unlock()
}
