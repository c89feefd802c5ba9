// Package incident is the rule that groups alerts sharing one cause into one
// incident, and an incident's lifecycle. Plain Go, no I/O: internal/incidents
// feeds it the alerts and signals it stores and keeps what it decides.
//
// Three causes are recognised:
//
//   - courier_stopped: one warehouse's courier stopped collecting: many
//     not_collected / divergence / no_courier_update alerts of orders with the
//     same warehouse and courier, close together in time;
//   - signature_failures: one connector failing its signatures: many
//     deliveries of one source refused for their signature within a window;
//   - channel_silent: one channel silent far longer than usual while the
//     others flow.
//
// Alerts keep existing one per order; an incident is what they have in
// common, with its blast radius (orders, shops, money at stake, channels).
//
//	OPEN ──► ACKNOWLEDGED ──► RESOLVED
//	  │                          ▲
//	  └──────────────────────────┘
//
// An incident resolves by hand, or by itself once its cause is over: no new
// member for the quiet period and every member alert resolved (for signals:
// no failure for the quiet period, the channel flowing again).
package incident

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/towerhq/tower/domain/access"
)

// Cause is what the members of an incident have in common. The zero Cause
// is none; the values are those stored and the GraphQL enum's (upper case).
type Cause struct{ s string }

var (
	CourierStopped    = Cause{"courier_stopped"}
	SignatureFailures = Cause{"signature_failures"}
	ChannelSilent     = Cause{"channel_silent"}
)

// Causes lists every cause.
var Causes = []Cause{CourierStopped, SignatureFailures, ChannelSilent}

// ErrUnknownCause is returned by ParseCause.
var ErrUnknownCause = errors.New("unknown incident cause")

// ParseCause reads a stored cause.
func ParseCause(s string) (Cause, error) {
	for _, c := range Causes {
		if c.s == s {
			return c, nil
		}
	}
	return Cause{}, fmt.Errorf("%w %q", ErrUnknownCause, s)
}

func (c Cause) String() string { return c.s }
func (c Cause) IsZero() bool   { return c == Cause{} }

// Key names one cause: the cause and what it is about, e.g.
// courier_stopped HZ-01/SF, signature_failures douyin, channel_silent tmall.
type Key struct {
	Cause Cause
	// Value is "warehouse/courier", the source, or the channel.
	Value string
}

func (k Key) String() string { return k.Cause.String() + ":" + k.Value }

// Warehouse is the warehouse a courier_stopped key is about ("" otherwise).
func (k Key) Warehouse() string {
	if k.Cause != CourierStopped {
		return ""
	}
	w, _, _ := strings.Cut(k.Value, "/")
	return w
}

// courierKinds are the alert kinds that point at the courier of the order's
// warehouse when many of them come together.
var courierKinds = []string{"not_collected", "divergence", "no_courier_update"}

// MemberKinds are the alert kinds a cause's incidents group (none for the
// signals).
func MemberKinds(cause string) []string {
	if cause == CourierStopped.String() {
		return slices.Clone(courierKinds)
	}
	return nil
}

// CauseOf is the cause an alert of kind on an order shipped from warehouse
// by courier may share with others; ok false for an alert no incident
// groups (its kind says nothing about a common cause, or the order has no
// warehouse or courier yet).
func CauseOf(kind, warehouse, courier string) (Key, bool) {
	if !slices.Contains(courierKinds, kind) || warehouse == "" || courier == "" {
		return Key{}, false
	}
	return Key{Cause: CourierStopped, Value: warehouse + "/" + courier}, true
}

// Config holds the thresholds; zero fields take the defaults (WithDefaults).
type Config struct {
	// MinMembers alerts of one cause within Window open an incident.
	// Default 5.
	MinMembers int
	// Window, default 15 minutes.
	Window time.Duration
	// Quiet: an incident with no new member for this long, whose members
	// are all resolved, resolves by itself; alerts further apart than this
	// (with every earlier one resolved) belong to different incidents.
	// Default 30 minutes.
	Quiet time.Duration
	// SignatureFailures refused deliveries of one source within Window
	// open a signature_failures incident. Default 10.
	SignatureFailures int
	// A channel is silent after SilenceFactor times its usual gap between
	// events (measured over Lookback, and only with at least MinEvents
	// events there), and at least MinSilence, while another channel had
	// events within MinSilence. Defaults 6, 15 minutes, 2 hours, 20.
	SilenceFactor float64
	MinSilence    time.Duration
	Lookback      time.Duration
	MinEvents     int
}

// WithDefaults fills the zero fields.
func (c Config) WithDefaults() Config {
	if c.MinMembers <= 0 {
		c.MinMembers = 5
	}
	if c.Window <= 0 {
		c.Window = 15 * time.Minute
	}
	if c.Quiet <= 0 {
		c.Quiet = 30 * time.Minute
	}
	if c.SignatureFailures <= 0 {
		c.SignatureFailures = 10
	}
	if c.SilenceFactor <= 0 {
		c.SilenceFactor = 6
	}
	if c.MinSilence <= 0 {
		c.MinSilence = 15 * time.Minute
	}
	if c.Lookback <= 0 {
		c.Lookback = 2 * time.Hour
	}
	if c.MinEvents <= 0 {
		c.MinEvents = 20
	}
	return c
}

// Validate refuses thresholds that cannot work.
func (c Config) Validate() error {
	switch {
	case c.MinMembers < 0 || c.SignatureFailures < 0 || c.MinEvents < 0:
		return errors.New("incidents: min_members, signature_failures and min_events must not be negative")
	case c.Window < 0 || c.Quiet < 0 || c.MinSilence < 0 || c.Lookback < 0 || c.SilenceFactor < 0:
		return errors.New("incidents: durations and silence_factor must not be negative")
	case c.MinMembers == 1:
		return errors.New("incidents: min_members 1 makes every alert an incident; use 2 or more")
	}
	return nil
}

// Member is one alert as grouping sees it: its order's warehouse, courier,
// shop and amount come from the order.
type Member struct {
	AlertID int64
	Kind    string
	Channel string
	OrderNo string
	Shop    string
	// Warehouse and Courier of the order.
	Warehouse, Courier string
	// Amount at stake, in fen.
	Amount int64
	// At is when the alert was raised.
	At time.Time
	// ResolvedAt is when the alert was resolved; zero while it stands.
	ResolvedAt time.Time
}

// resolvedBy reports whether the member was resolved at or before t.
func (m Member) resolvedBy(t time.Time) bool { return !m.ResolvedAt.IsZero() && !m.ResolvedAt.After(t) }

// Cluster is the members of one incident.
type Cluster struct {
	// Members sorted by At, then AlertID; each alert once.
	Members         []Member
	Start, LastSeen time.Time
}

// Settled reports whether the cluster's cause is over at now: no new
// member for the quiet period and every member resolved.
func (c Cluster) Settled(cfg Config, now time.Time) bool {
	cfg = cfg.WithDefaults()
	if now.Sub(c.LastSeen) < cfg.Quiet {
		return false
	}
	for _, m := range c.Members {
		if !m.resolvedBy(now) {
			return false
		}
	}
	return true
}

// IDs are the member alerts' ids.
func (c Cluster) IDs() []int64 {
	out := make([]int64, len(c.Members))
	for i, m := range c.Members {
		out[i] = m.AlertID
	}
	return out
}

// Group is the grouping rule: which of the alerts of one cause make
// incidents. It depends only on the set of alerts (each AlertID counted
// once, whatever the order they came in or how often), so redelivered and
// out-of-order alerts converge to the same incidents.
//
// Alerts raised after cut (the end of the cause's last incident resolved by
// hand; zero for none) are grouped: sorted by time, an alert belongs with
// the ones before it when it comes within the quiet period of the last of
// them, or when those already make an incident some member of which still
// stands. A run of alerts makes an incident once MinMembers of them fall
// within Window; the whole run is its members.
func Group(cfg Config, ms []Member, cut time.Time) []Cluster {
	cfg = cfg.WithDefaults()
	byID := make(map[int64]Member, len(ms))
	for _, m := range ms {
		if !m.At.After(cut) {
			continue
		}
		if prev, ok := byID[m.AlertID]; ok {
			m = merge(prev, m)
		}
		byID[m.AlertID] = m
	}
	sorted := make([]Member, 0, len(byID))
	for _, m := range byID {
		sorted = append(sorted, m)
	}
	slices.SortFunc(sorted, func(a, b Member) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return cmpInt(a.AlertID, b.AlertID)
	})
	var out []Cluster
	var run []Member
	dense := false // run has MinMembers within Window
	flush := func() {
		if dense {
			out = append(out, Cluster{Members: run, Start: run[0].At, LastSeen: run[len(run)-1].At})
		}
		run, dense = nil, false
	}
	for _, m := range sorted {
		if len(run) > 0 {
			last := run[len(run)-1]
			if m.At.Sub(last.At) > cfg.Quiet && !(dense && standing(run, m.At)) {
				flush()
			}
		}
		run = append(run, m)
		if !dense && len(run) >= cfg.MinMembers {
			first := run[len(run)-cfg.MinMembers]
			dense = m.At.Sub(first.At) <= cfg.Window
		}
	}
	if len(run) > 0 {
		flush()
	}
	return out
}

// standing reports whether some member of run still stood at t.
func standing(run []Member, t time.Time) bool {
	for _, m := range run {
		if !m.resolvedBy(t) {
			return true
		}
	}
	return false
}

// merge combines two copies of one alert: a redelivery may carry the
// resolution the other lacks, or order facts learnt since.
func merge(a, b Member) Member {
	if a.ResolvedAt.IsZero() || (!b.ResolvedAt.IsZero() && b.ResolvedAt.Before(a.ResolvedAt)) {
		a.ResolvedAt = b.ResolvedAt
	}
	if b.At.Before(a.At) {
		a.At = b.At
	}
	for _, f := range []struct {
		dst *string
		src string
	}{
		{&a.Kind, b.Kind}, {&a.Channel, b.Channel}, {&a.OrderNo, b.OrderNo}, {&a.Shop, b.Shop},
		{&a.Warehouse, b.Warehouse}, {&a.Courier, b.Courier},
	} {
		if *f.dst == "" {
			*f.dst = f.src
		}
	}
	if a.Amount == 0 {
		a.Amount = b.Amount
	}
	return a
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Radius is an incident's blast radius.
type Radius struct {
	// Orders affected (each order once, however many of its alerts).
	Orders int
	// Money at stake: the sum of the affected orders' amounts, in fen.
	Money int64
	// Shops and Channels affected, sorted.
	Shops    []string
	Channels []string
}

// RadiusOf sums the members' orders, shops, channels and amounts.
func RadiusOf(ms []Member) Radius {
	r := Radius{Shops: []string{}, Channels: []string{}}
	orders := map[[2]string]bool{}
	for _, m := range ms {
		k := [2]string{m.Channel, m.OrderNo}
		if m.OrderNo != "" && !orders[k] {
			orders[k] = true
			r.Money += m.Amount
		}
		if m.Shop != "" && !slices.Contains(r.Shops, m.Shop) {
			r.Shops = append(r.Shops, m.Shop)
		}
		if m.Channel != "" && !slices.Contains(r.Channels, m.Channel) {
			r.Channels = append(r.Channels, m.Channel)
		}
	}
	r.Orders = len(orders)
	slices.Sort(r.Shops)
	slices.Sort(r.Channels)
	return r
}

// SignatureBreach reports whether failures refused deliveries of one source
// within Window make a signature_failures incident.
func SignatureBreach(cfg Config, failures int) bool {
	return failures >= cfg.WithDefaults().SignatureFailures
}

// SignatureSettled reports whether a signature_failures incident whose last
// failure was at last is over at now.
func SignatureSettled(cfg Config, last, now time.Time) bool {
	return now.Sub(last) >= cfg.WithDefaults().Quiet
}

// Flow is one channel's recent traffic: its newest event and how many
// events it had within Lookback before now.
type Flow struct {
	Channel string
	Last    time.Time
	Events  int
}

// Silent returns the channels silent at now, sorted: each with enough
// history to know its usual pace (MinEvents within Lookback), quiet for
// SilenceFactor times its usual gap and at least MinSilence, while another
// channel had an event within MinSilence. A channel nobody hears from at
// all is not silent, it is idle: that is for its own reconciliation.
func Silent(cfg Config, flows []Flow, now time.Time) []string {
	cfg = cfg.WithDefaults()
	flowing := 0
	for _, f := range flows {
		if !f.Last.IsZero() && now.Sub(f.Last) < cfg.MinSilence {
			flowing++
		}
	}
	var out []string
	for _, f := range flows {
		if f.Last.IsZero() || f.Events < cfg.MinEvents {
			continue
		}
		usual := cfg.Lookback / time.Duration(f.Events)
		quiet := max(cfg.MinSilence, time.Duration(float64(usual)*cfg.SilenceFactor))
		if now.Sub(f.Last) >= quiet && flowing > 0 {
			out = append(out, f.Channel)
		}
	}
	slices.Sort(out)
	return out
}

// VisibleTo reports whether an account limited to scopes sees an incident
// of key whose members are of channels: a warehouse's incidents for its
// warehouses, a channel's for its channels; incidents of no warehouse
// (signatures, silence) only for unlimited accounts and, for a channel's
// silence, accounts of that channel.
func VisibleTo(s access.Scopes, k Key, channels []string) bool {
	if s.Unlimited() {
		return true
	}
	if len(s.Warehouses) > 0 && !slices.Contains(s.Warehouses, k.Warehouse()) {
		return false
	}
	if len(s.Channels) > 0 {
		if k.Cause == ChannelSilent {
			return slices.Contains(s.Channels, k.Value)
		}
		for _, c := range channels {
			if slices.Contains(s.Channels, c) {
				return true
			}
		}
		return false
	}
	return true
}

// State is where an incident is in its lifecycle; the values are those
// stored and the GraphQL enum's.
type State struct{ s string }

var (
	Open         = State{"OPEN"}
	Acknowledged = State{"ACKNOWLEDGED"}
	Resolved     = State{"RESOLVED"}
)

// States lists every state, in lifecycle order.
var States = []State{Open, Acknowledged, Resolved}

// ErrUnknownState is returned by ParseState.
var ErrUnknownState = errors.New("unknown incident state")

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
func (s State) IsZero() bool   { return s == State{} }

// ErrResolved is returned for any move out of Resolved: a resolved
// incident is history, and the cause coming back opens a new one.
var ErrResolved = errors.New("incident is already resolved")

// TransitionError is a move the lifecycle forbids.
type TransitionError struct{ From, To State }

func (e *TransitionError) Error() string {
	return fmt.Sprintf("incident cannot move from %q to %q", e.From, e.To)
}

// Move says whether an incident in state from may move to state to; a move
// to the state it is in changes nothing and is no error, except out of
// Resolved.
func Move(from, to State) (changed bool, err error) {
	switch {
	case from == Resolved:
		return false, ErrResolved
	case from.IsZero() || to.IsZero() || (from == Acknowledged && to == Open):
		return false, &TransitionError{From: from, To: to}
	case from == to:
		return false, nil
	}
	return true, nil
}
