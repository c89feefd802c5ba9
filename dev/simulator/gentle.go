package simulator

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/towerhq/tower/internal/platforms/platformtest"
)

// Gentle plays one modest day after another against target until ctx ends:
// what `make run` shows on a fresh install. Each day starts now, with a
// small live-stream burst half an hour in.
func Gentle(ctx context.Context, target string, routes Routes, pull []platformtest.OrderList, pullAddr string, ordersPerDay int, speed float64, log *slog.Logger) error {
	state := NewChannelState()
	if pullAddr != "" {
		ln, err := net.Listen("tcp", pullAddr)
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: platformtest.NewMux(state.Store, nil, pull...), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
	}
	for day := int64(1); ctx.Err() == nil; day++ {
		plan := Generate(GentleDay(time.Now().Unix()%100_000*100+day, ordersPerDay, time.Now().Truncate(time.Second)))
		log.Info("simulator: playing a gentle day", "orders", len(plan.Orders), "pushes", len(plan.Sends), "speed", speed)
		p := &Player{Plan: plan, BaseURL: target, Route: routes.Route, Speed: speed, Workers: 4, Log: log,
			OnPlayed: func(s Send, _ bool, at time.Time) { state.Remember(s.Event, at) }}
		if err := p.Play(ctx); err != nil && ctx.Err() == nil {
			return err
		}
	}
	return nil
}

// GentleDay is the day Gentle plays: a small live-stream burst half an
// hour in, and warehouse GZ-03's courier collecting nothing in the third
// hour (enough not_collected alerts of one warehouse and courier for an
// incident).
func GentleDay(seed int64, orders int, start time.Time) Config {
	c := Defaults()
	c.Seed, c.Orders, c.Start = seed, orders, start
	c.BurstAt, c.BurstShare = 30*time.Minute, 0.3
	c.Faults.StallFrom, c.Faults.StallTo = 2*time.Hour, 3*time.Hour
	return c
}
