package simulator

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms/platformtest"
)

// Routes are the pushers of the configured sources, in configuration
// order. Each event goes to the pusher that carries it most specifically
// (platformtest.Carries), the first among equals; what none carries goes
// to the highest fallback (a standard source), so any subset of platforms
// works.
type Routes []platformtest.Pusher

// Route picks the pusher of e.
func (r Routes) Route(e order.Event) (platformtest.Pusher, bool) {
	var best platformtest.Pusher
	bestScore := -1
	for _, p := range r {
		c := p.Carries()
		if c.System != e.System || (c.Channel != "" && c.Channel != e.Order.Channel) ||
			(len(c.Kinds) > 0 && !slices.Contains(c.Kinds, e.Kind)) {
			continue
		}
		score := 0
		if c.Channel != "" {
			score++
		}
		if len(c.Kinds) > 0 {
			score += 2
		}
		if score > bestScore {
			best, bestScore = p, score
		}
	}
	if best != nil {
		return best, true
	}
	return r.fallback()
}

// fallback is the pusher with the highest Fallback, if any.
func (r Routes) fallback() (platformtest.Pusher, bool) {
	var best platformtest.Pusher
	for _, p := range r {
		if f := p.Carries().Fallback; f > 0 && (best == nil || f > best.Carries().Fallback) {
			best = p
		}
	}
	return best, best != nil
}

// Options configure a run.
type Options struct {
	Config  Config
	Speed   float64
	Target  string // Tower's base URL
	Routes  Routes
	Workers int
	// TruthFile receives the ground truth as JSON lines; "" for none.
	TruthFile string
	// PullAddr serves the fake channel order-list APIs that Tower's
	// reconciliation pulls ("" for none).
	PullAddr string
	Pull     []platformtest.OrderList
	Progress io.Writer
	Log      *slog.Logger
	// Linger keeps the fake pull APIs up after the day is played, so the
	// next reconciliation finds the lost pushes.
	Linger time.Duration
	// SyncClock aligns a Tower in simulation mode with the simulated day.
	SyncClock bool
	// PlayFor ends the play this long into the simulated day (0: play it all).
	PlayFor time.Duration
}

// Run generates the day, writes the ground truth, serves the fake pull
// APIs and plays the day. It returns what was played.
func Run(ctx context.Context, o Options) (*Plan, Stats, error) {
	plan := Generate(o.Config)
	if o.TruthFile != "" {
		if err := WriteTruth(o.TruthFile, plan); err != nil {
			return plan, Stats{}, err
		}
	}
	state := NewChannelState()
	if o.PullAddr != "" {
		ln, err := net.Listen("tcp", o.PullAddr)
		if err != nil {
			return plan, Stats{}, fmt.Errorf("simulator: serve fake platform APIs: %w", err)
		}
		srv := &http.Server{Handler: platformtest.NewMux(state.Store, nil, o.Pull...), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
	}
	synced := false
	var syncedAt time.Time
	if o.SyncClock {
		ok, err := SyncClock(ctx, o.Target, plan.Config.Start, o.Speed)
		synced, syncedAt = ok, time.Now()
		if err != nil {
			return plan, Stats{}, fmt.Errorf("simulator: sync clock: %w", err)
		}
		if !ok && o.Log != nil {
			o.Log.Warn("Tower is not in simulation mode: its clock runs in real time, so deadlines will not fall due in simulated time")
		}
	}
	p := &Player{
		Plan: plan, BaseURL: o.Target, Route: o.Routes.Route, Speed: o.Speed, Workers: o.Workers,
		Log: o.Log, Progress: o.Progress,
		OnPlayed: func(s Send, _ bool, realAt time.Time) {
			// The platforms stamp updates with their own clock, which agrees
			// with Tower's: with aligned clocks that is the simulated time
			// Tower's clock shows now (the play itself may run behind).
			if synced {
				realAt = plan.Config.Start.Add(time.Duration(float64(realAt.Sub(syncedAt)) * o.Speed))
			}
			state.Remember(s.Event, realAt)
		},
	}
	if o.PlayFor > 0 {
		p.Until = plan.Config.Start.Add(o.PlayFor)
	}
	err := p.Play(ctx)
	if err == nil && o.PullAddr != "" && o.Linger > 0 {
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "played; serving the channel order-list APIs for %s more for reconciliation\n", o.Linger)
		}
		select {
		case <-ctx.Done():
		case <-time.After(o.Linger):
		}
	}
	return plan, p.Stats(), err
}

// ChannelState is what the channels know of each order, as the simulated
// day is played: the fake pull APIs serve it.
type ChannelState struct {
	mu     sync.Mutex
	orders map[order.Key]platformtest.Order
	Store  *platformtest.MemStore
}

func NewChannelState() *ChannelState {
	return &ChannelState{orders: map[order.Key]platformtest.Order{}, Store: &platformtest.MemStore{}}
}

// Remember records a channel event, lost or pushed, as of when it was
// played (the pull APIs filter by that update time).
func (c *ChannelState) Remember(e order.Event, realAt time.Time) {
	if e.System != order.SystemChannel {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.orders[e.Order]
	func(o *platformtest.Order) {
		o.Key = e.Order
		o.UpdatedAt = realAt
		switch e.Kind {
		case order.KindCreated:
			o.CreatedAt = e.OccurredAt
			if o.Status == "" {
				o.Status = "created"
			}
			if e.Data.Amount != nil {
				o.Amount = *e.Data.Amount
			}
		case order.KindPaid:
			o.PaidAt = e.OccurredAt
			if o.Status == "created" || o.Status == "" {
				o.Status = "paid"
			}
		case order.KindCancelled:
			o.CancelledAt, o.Status, o.CancelReason = e.OccurredAt, "cancelled", e.Data.Reason
		case order.KindRefundCompleted:
			o.RefundedAt, o.Status = e.OccurredAt, "refunded"
		}
	}(&o)
	c.orders[e.Order] = o
	c.Store.Put(o)
}

// WriteTruth writes one JSON line per order: its intended final stage,
// tracking number and what was made to go wrong.
func WriteTruth(path string, p *Plan) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("simulator: truth file: %w", err)
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, o := range p.Orders {
		if err := enc.Encode(o); err != nil {
			return errors.Join(err, f.Close())
		}
	}
	if err := w.Flush(); err != nil {
		return errors.Join(err, f.Close())
	}
	return f.Close()
}
