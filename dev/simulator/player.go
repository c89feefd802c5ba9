package simulator

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms/platformtest"
)

// Router picks the pusher of an event (Routes.Route).
type Router func(e order.Event) (platformtest.Pusher, bool)

// Stats counts what a play did.
type Stats struct {
	Planned    int64 // sends in the plan (duplicates included)
	Sent       int64 // requests answered 2xx
	Duplicates int64 // of which deliberate repeats
	Retried    int64 // retries after a 5xx or a broken connection
	Failed     int64 // gave up
	Refused    int64 // 4xx answers: our bug, not the platform's
	Skipped    int64 // no wire for the event
}

// Player plays a Plan against a Tower over HTTP, speed seconds of the day
// per real second.
type Player struct {
	Plan     *Plan
	BaseURL  string
	Route    Router
	Speed    float64
	Workers  int
	Client   *http.Client
	Log      *slog.Logger
	Progress io.Writer // a progress line a second; nil for none
	// OnPlayed is told each send as it is played (lost ones too): the fake
	// pull APIs learn the day as it happens.
	OnPlayed func(s Send, lost bool, realAt time.Time)
	// Until, when set, ends the play at that simulated instant.
	Until time.Time

	stats Stats
}

// Stats returns the counts so far.
func (p *Player) Stats() Stats {
	return Stats{
		Planned: atomic.LoadInt64(&p.stats.Planned), Sent: atomic.LoadInt64(&p.stats.Sent),
		Duplicates: atomic.LoadInt64(&p.stats.Duplicates), Retried: atomic.LoadInt64(&p.stats.Retried),
		Failed: atomic.LoadInt64(&p.stats.Failed), Refused: atomic.LoadInt64(&p.stats.Refused),
		Skipped: atomic.LoadInt64(&p.stats.Skipped),
	}
}

// SimNow maps wall time to simulated time for a play started at realStart.
func (p *Player) SimNow(realStart, now time.Time) time.Time {
	return p.Plan.Config.Start.Add(time.Duration(float64(now.Sub(realStart)) * p.Speed))
}

// Play sends every planned push at its (compressed) time and returns when
// all are answered or ctx ends. from skips the plan up to that simulated
// instant (to start mid-day).
func (p *Player) Play(ctx context.Context) error {
	if p.Speed <= 0 {
		p.Speed = 1
	}
	if p.Workers <= 0 {
		p.Workers = 32
	}
	if p.Client == nil {
		// Keep a connection per worker: the default two idle connections
		// per host would make every burst open and close thousands.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConns, tr.MaxIdleConnsPerHost = p.Workers, p.Workers
		p.Client = &http.Client{Timeout: 30 * time.Second, Transport: tr}
	}
	atomic.StoreInt64(&p.stats.Planned, int64(len(p.Plan.Sends)))
	work := make(chan Send, 4*p.Workers)
	var wg sync.WaitGroup
	for range p.Workers {
		wg.Go(func() {
			for s := range work {
				p.send(ctx, s)
			}
		})
	}
	done := make(chan struct{})
	if p.Progress != nil {
		go p.progress(done)
	}
	start := time.Now()
	lost := p.Plan.Lost
	li := 0
	var err error
loop:
	for _, s := range p.Plan.Sends {
		if !p.Until.IsZero() && s.At.After(p.Until) {
			break
		}
		// Lost pushes "happen" too: only the send is missing.
		for li < len(lost) && !lost[li].At.After(s.At) {
			if p.OnPlayed != nil {
				p.OnPlayed(lost[li], true, time.Now())
			}
			li++
		}
		if wait := time.Duration(float64(s.At.Sub(p.Plan.Config.Start))/p.Speed) - time.Since(start); wait > 0 {
			select {
			case <-ctx.Done():
				err = ctx.Err()
				break loop
			case <-time.After(wait):
			}
		}
		if p.OnPlayed != nil {
			p.OnPlayed(s, false, time.Now())
		}
		select {
		case work <- s:
		case <-ctx.Done():
			err = ctx.Err()
			break loop
		}
	}
	for ; li < len(lost) && err == nil && (p.Until.IsZero() || !lost[li].At.After(p.Until)); li++ {
		if p.OnPlayed != nil {
			p.OnPlayed(lost[li], true, time.Now())
		}
	}
	close(work)
	wg.Wait()
	close(done)
	if p.Progress != nil {
		p.printProgress(start)
		fmt.Fprintln(p.Progress)
	}
	return err
}

func (p *Player) send(ctx context.Context, s Send) {
	w, ok := p.Route(s.Event)
	if !ok {
		atomic.AddInt64(&p.stats.Skipped, 1)
		return
	}
	sh := p.Plan.Orders[s.Order].Shipment()
	backoff := 100 * time.Millisecond
	for attempt := 0; attempt < 8; attempt++ {
		if attempt > 0 {
			atomic.AddInt64(&p.stats.Retried, 1)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
		}
		// Rebuilt each attempt: signatures carry the current time.
		req, err := w.Request(ctx, p.BaseURL, s.Event, sh, time.Now())
		if err != nil {
			p.Log.Error("simulator could not build a request", "event", s.Event.ID, "err", err)
			atomic.AddInt64(&p.stats.Failed, 1)
			return
		}
		resp, err := p.Client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			continue
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		switch {
		case resp.StatusCode >= 200 && resp.StatusCode < 300 && !failureBody(body):
			atomic.AddInt64(&p.stats.Sent, 1)
			if s.Dup {
				atomic.AddInt64(&p.stats.Duplicates, 1)
			}
			return
		case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
			continue
		default:
			atomic.AddInt64(&p.stats.Refused, 1)
			p.Log.Error("Tower refused a simulated push", "event", s.Event.ID, "kind", s.Event.Kind, "status", resp.StatusCode, "body", string(body))
			return
		}
	}
	atomic.AddInt64(&p.stats.Failed, 1)
}

// failureBody spots platform answers that are HTTP 200 but say failure
// (Douyin code != 0, Qimen flag failure, Kuaidi100 result false).
func failureBody(b []byte) bool {
	for _, marker := range [][]byte{[]byte(`"code":1`), []byte(`<flag>failure</flag>`), []byte(`"result":false`), []byte(`"flag":"failure"`)} {
		if bytes.Contains(b, marker) {
			return true
		}
	}
	return false
}

func (p *Player) progress(done <-chan struct{}) {
	start := time.Now()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			p.printProgress(start)
		}
	}
}

func (p *Player) printProgress(start time.Time) {
	st := p.Stats()
	el := time.Since(start)
	pct := 0.0
	if st.Planned > 0 {
		pct = 100 * float64(st.Sent+st.Failed+st.Refused+st.Skipped) / float64(st.Planned)
	}
	fmt.Fprintf(p.Progress, "\r[%5.1f%%] simulated %s | pushes %d/%d (%d dup) | %.0f/s | retries %d | failed %d | refused %d   ",
		pct, p.SimNow(start, time.Now()).Format("01-02 15:04"), st.Sent, st.Planned, st.Duplicates,
		float64(st.Sent)/max(el.Seconds(), 0.001), st.Retried, st.Failed, st.Refused)
}
