// Package bench is `tower bench`: it starts a node against a scratch
// database, drives it over real HTTP with correctly signed webhooks and
// real websocket subscribers, measures PostgreSQL's own ceiling in the same
// run, and reports one table and one JSON file.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/towerhq/tower/domain/access"
	"github.com/towerhq/tower/events"
	"github.com/towerhq/tower/internal/app"
	"github.com/towerhq/tower/internal/auth"
	"github.com/towerhq/tower/internal/config"
	"github.com/towerhq/tower/internal/platforms/standard"
)

// Options are the command's flags.
type Options struct {
	// Duration is the whole measuring time, split between the phases.
	Duration time.Duration
	// Rate is the fixed (open-loop) load, events per second.
	Rate int
	// Senders is how many webhooks are in flight at saturation.
	Senders int
	// Subscribers is how many websocket subscribers stay open.
	Subscribers int
	// SubscribersCommand, when set, runs the subscribers in a process of
	// their own: the command (e.g. tower bench-subscribers), to which the
	// count and the node URLs are added.
	SubscribersCommand []string
	// Out is the folder the JSON report goes to.
	Out string
	// Force runs against a server whose database already holds orders.
	Force bool
	// CPUProfile, when set, is where the 20-event saturation phase's CPU
	// profile goes (go tool pprof), CPUProfile + ".single" the
	// single-event phase's and CPUProfile + ".fixed" the fixed load's.
	CPUProfile string
	// Nodes is how many nodes run (in this process, on the one scratch
	// database); senders and subscribers are spread over them.
	Nodes int
	// Bus is "postgres" or "nats"; NATSURL is the NATS server with nats.
	Bus, NATSURL string
}

// Report is what a run measured; the JSON names are the contract's.
type Report struct {
	SaturationEventsPerS    float64 `json:"saturation_events_per_s"`
	IngestEventsPerS        float64 `json:"ingest_events_per_s"`
	RawCeilingRowsPerS      float64 `json:"raw_ceiling_rows_per_s"`
	CeilingBy               string  `json:"raw_ceiling_measured_by"`
	SaturationRatio         float64 `json:"saturation_ratio"`
	SingleEventsPerS        float64 `json:"single_event_events_per_s"`
	RawCeilingSingleRowsPer float64 `json:"raw_ceiling_single_rows_per_s"`
	SingleRatio             float64 `json:"single_event_ratio"`
	CPUSecondsPer1000       float64 `json:"cpu_seconds_per_1000_events"`
	FixedLoadEventsPerS     float64 `json:"fixed_load_events_per_s"`
	FixedLoadTarget         int     `json:"fixed_load_target_events_per_s"`
	AckP50Ms                float64 `json:"ack_p50_ms"`
	AckP99Ms                float64 `json:"ack_p99_ms"`
	PushP50Ms               float64 `json:"push_p50_ms"`
	PushP99Ms               float64 `json:"push_p99_ms"`
	PushProbes              int     `json:"push_probes"`
	Subscribers             int     `json:"subscribers"`
	BytesPerSubscription    float64 `json:"bytes_per_subscription"`
	// SubscribersApart: the subscribers ran in another process, so the
	// bytes per subscription are the nodes' side alone.
	SubscribersApart      bool      `json:"subscribers_in_another_process"`
	FramesPerSubscriber   float64   `json:"frames_per_subscriber_during_fixed_load"`
	EventsDuringFixedLoad int64     `json:"events_during_fixed_load"`
	Machine               Machine   `json:"machine"`
	Notes                 []string  `json:"notes"`
	StartedAt             time.Time `json:"started_at"`
	Nodes                 int       `json:"nodes"`
	Bus                   string    `json:"bus"`

	// Scale is `--scale`'s part: view and lookup latencies over a
	// generated history.
	Scale *ScaleReport `json:"scale,omitempty"`
}

// Run measures and returns the report; progress gets one line per step.
func Run(ctx context.Context, cfg config.Config, o Options, progress io.Writer) (*Report, error) {
	if o.Duration <= 0 {
		o.Duration = 60 * time.Second
	}
	if o.Rate <= 0 {
		o.Rate = 1000
	}
	if o.Senders <= 0 {
		o.Senders = 32
	}
	if o.Subscribers < 0 {
		o.Subscribers = 0
	}
	if o.Nodes <= 0 {
		o.Nodes = 1
	}
	if o.Bus == "" {
		o.Bus = "postgres"
	}
	if o.Bus != "postgres" && o.Bus != "nats" {
		return nil, fmt.Errorf("bench: --bus %q: want postgres or nats", o.Bus)
	}
	r := &Report{StartedAt: time.Now(), FixedLoadTarget: o.Rate, Subscribers: o.Subscribers, Nodes: o.Nodes, Bus: o.Bus}
	step := func(format string, args ...any) {
		fmt.Fprintf(progress, "[%5.1fs] "+format+"\n", append([]any{time.Since(r.StartedAt).Seconds()}, args...)...)
	}
	phase := o.Duration / 4

	db, err := scratch(ctx, cfg, o.Force, step)
	if err != nil {
		return nil, err
	}
	defer db.drop(step)
	if r.Machine, err = describe(ctx, db.url); err != nil {
		return nil, err
	}

	step("PostgreSQL's own ceiling: 8 clients, event insert + twin upsert, 1 then 50 per commit (%s each)", phase/2)
	if r.RawCeilingSingleRowsPer, r.CeilingBy, err = ceiling(ctx, db.url, 8, 1, phase/2); err != nil {
		return nil, err
	}
	if r.RawCeilingRowsPerS, _, err = ceiling(ctx, db.url, 8, 50, phase/2); err != nil {
		return nil, err
	}
	step("  %.0f rows/s at 1 per commit, %.0f rows/s at 50 per commit (%s)", r.RawCeilingSingleRowsPer, r.RawCeilingRowsPerS, r.CeilingBy)

	cl, err := startNodes(ctx, cfg, db.url, o, progress, step)
	defer cl.stop(step)
	if err != nil {
		return nil, err
	}
	nodes, urls, secret := cl.nodes, cl.urls, cl.secret
	// Subscribers watch as an operations manager's dashboard does; a
	// token is a row in the shared database, good on every node.
	token, _, err := nodes[0].Auth.CreateToken(ctx, auth.NewToken{Name: "bench-subscribers", Role: access.Ops}, "tower bench")
	if err != nil {
		return nil, err
	}
	snd := newSender(urls, "bench", secret, o.Senders*2)

	// Warm up: connections, prepared statements, rule programs.
	if _, err := snd.saturate(ctx, 4, 20, 2*time.Second); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	if err := db.drained(ctx, snd.acked.Load(), time.Minute); err != nil {
		return nil, err
	}

	step("saturation, 20-event webhooks from %d senders, for %s, then until every twin is projected", o.Senders, phase)
	stopProfile, err := startProfile(o.CPUProfile)
	if err != nil {
		return nil, err
	}
	cpu0, t0 := cpuSeconds(), time.Now()
	n, err := snd.saturate(ctx, o.Senders, 20, phase)
	if err != nil {
		stopProfile()
		return nil, err
	}
	sent := time.Since(t0)
	err = db.drained(ctx, snd.acked.Load(), 5*time.Minute)
	stopProfile()
	if err != nil {
		return nil, err
	}
	total := time.Since(t0)
	r.IngestEventsPerS = float64(n) / sent.Seconds()
	r.SaturationEventsPerS = float64(n) / total.Seconds()
	r.CPUSecondsPer1000 = (cpuSeconds() - cpu0) / float64(n) * 1000
	r.SaturationRatio = r.SaturationEventsPerS / r.RawCeilingRowsPerS
	step("  %d events: acknowledged at %.0f/s, projected end to end at %.0f/s (%.2f of the batched ceiling), %.3f CPU s per 1,000 events",
		n, r.IngestEventsPerS, r.SaturationEventsPerS, r.SaturationRatio, r.CPUSecondsPer1000)

	step("saturation, single-event webhooks from %d senders, for %s", o.Senders, phase/2)
	single := ""
	if o.CPUProfile != "" {
		single = o.CPUProfile + ".single"
	}
	if stopProfile, err = startProfile(single); err != nil {
		return nil, err
	}
	t0 = time.Now()
	n, err = snd.saturate(ctx, o.Senders, 1, phase/2)
	stopProfile()
	if err != nil {
		return nil, err
	}
	r.SingleEventsPerS = float64(n) / time.Since(t0).Seconds()
	r.SingleRatio = r.SingleEventsPerS / r.RawCeilingSingleRowsPer
	if err := db.drained(ctx, snd.acked.Load(), 5*time.Minute); err != nil {
		return nil, err
	}
	step("  %.0f events/s acknowledged (%.2f× the one-per-commit ceiling)", r.SingleEventsPerS, r.SingleRatio)

	subs, heapPer, err := openSubscribers(o.SubscribersCommand, urls, token, o.Subscribers, step)
	if err != nil {
		return nil, err
	}
	r.BytesPerSubscription = heapPer
	r.SubscribersApart = len(o.SubscribersCommand) > 0 && o.Subscribers > 0
	defer subs.close()
	frames0 := subs.frames()

	step("fixed load: %d events/s open loop for %s, with push probes", o.Rate, phase)
	fixedProfile := ""
	if o.CPUProfile != "" {
		fixedProfile = o.CPUProfile + ".fixed"
	}
	if stopProfile, err = startProfile(fixedProfile); err != nil {
		return nil, err
	}
	fx, err := fixedLoad(ctx, snd, urls, token, o.Rate, phase)
	stopProfile()
	if err != nil {
		return nil, err
	}
	r.FixedLoadEventsPerS, r.EventsDuringFixedLoad = fx.achieved, fx.events
	r.AckP50Ms, r.AckP99Ms = fx.ack.pct(0.50), fx.ack.pct(0.99)
	r.PushP50Ms, r.PushP99Ms, r.PushProbes = fx.push.pct(0.50), fx.push.pct(0.99), len(fx.push)
	if o.Subscribers > 0 {
		r.FramesPerSubscriber = float64(subs.frames()-frames0) / float64(o.Subscribers)
	}
	step("  %.0f events/s sent; ack p50 %.1f ms p99 %.1f ms; push p50 %.1f ms p99 %.1f ms (%d probes); %.1f frames per subscriber",
		r.FixedLoadEventsPerS, r.AckP50Ms, r.AckP99Ms, r.PushP50Ms, r.PushP99Ms, r.PushProbes, r.FramesPerSubscriber)
	if r.SubscribersApart {
		r.Notes = append(r.Notes,
			"the load generator runs in the node's process (CPU per 1,000 events includes it); the websocket subscribers run in a process of their own on the same machine, so bytes per subscription are the node's side")
	} else {
		r.Notes = append(r.Notes,
			"the load generator and its websocket clients run in the node's process: CPU per 1,000 events and bytes per subscription include both ends (upper bounds)")
	}
	r.Notes = append(r.Notes, "PostgreSQL runs on the same machine; its CPU is not in cpu_seconds_per_1000_events")
	return r, nil
}

// cluster is a run's nodes, all in this process on one database and bus.
type cluster struct {
	nodes               []*app.Node
	urls                []string
	secret              string
	natsURL, natsPrefix string
}

// startNodes starts o.Nodes nodes on the database at dbURL, sharing one
// webhook secret (as behind a load balancer), with distinct node names and
// ports; on NATS, under a prefix of the run's own. Call stop even after
// an error: it stops what started.
func startNodes(ctx context.Context, cfg config.Config, dbURL string, o Options, progress io.Writer, step func(string, ...any)) (*cluster, error) {
	cl := &cluster{secret: newSecret()}
	ncfg := cfg
	ncfg.Mode, ncfg.HTTPAddr, ncfg.DebugAddr, ncfg.DatabaseURL = "dev", "127.0.0.1:0", "", dbURL
	ncfg.Simulator.Enabled = false
	noDemo := false
	ncfg.Auth.DemoAccounts = &noDemo
	ncfg.Notify = config.Notify{}
	ncfg.Sources = []config.Source{{Name: "bench", Type: standard.Type, Settings: standard.Settings{Secrets: []string{cl.secret}}}}
	ncfg.Bus = o.Bus
	if o.Bus == "nats" {
		ncfg.NATSURL = o.NATSURL
		if ncfg.NATSURL == "" {
			ncfg.NATSURL = "nats://127.0.0.1:4222"
		}
		// Streams of the run's own, deleted afterwards: the server may
		// serve a real installation too.
		ncfg.NATSPrefix = "bench" + strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
				return r
			}
			return 'x'
		}, strings.ToLower(cl.secret[6:14]))
		cl.natsURL, cl.natsPrefix = ncfg.NATSURL, ncfg.NATSPrefix
	}
	log := slog.New(slog.NewTextHandler(progress, &slog.HandlerOptions{Level: slog.LevelError}))
	for i := range max(o.Nodes, 1) {
		c := ncfg
		c.NodeName = "bench"
		if o.Nodes > 1 {
			c.NodeName = fmt.Sprintf("bench-%d", i+1)
		}
		if err := c.Validate(); err != nil {
			return cl, fmt.Errorf("bench config: %w", err)
		}
		step("starting node %s on the scratch database (bus: %s)", c.NodeName, c.Bus)
		node, err := app.New(ctx, c, log)
		if err != nil {
			return cl, err
		}
		url, err := node.Start(ctx)
		if err != nil {
			_ = node.Shutdown(context.Background())
			return cl, err
		}
		cl.nodes, cl.urls = append(cl.nodes, node), append(cl.urls, url)
	}
	return cl, nil
}

// stop shuts the nodes down together and deletes the run's NATS streams.
func (cl *cluster) stop(step func(string, ...any)) {
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, n := range cl.nodes {
		wg.Go(func() { _ = n.Shutdown(sctx) })
	}
	wg.Wait()
	if cl.natsPrefix == "" {
		return
	}
	if err := events.DeleteNATSStreams(cl.natsURL, cl.natsPrefix); err != nil {
		step("could not delete the NATS streams %s_*: %v", strings.ToUpper(cl.natsPrefix), err)
	} else {
		step("deleted the NATS streams %s_*", strings.ToUpper(cl.natsPrefix))
	}
}

type fixed struct {
	achieved  float64
	events    int64
	ack, push latencies
}

// fixedLoad sends single-event webhooks at rate for d, on schedule whatever
// the answers (open loop: a slow answer does not slow the sending), and
// measures each answer from its scheduled time; every 20th order is
// watched by an orderUpdated probe, measuring event → push. Webhook i goes
// to node i and probe connection j listens on node j+1 (round robin over
// the nodes): with two nodes, every probe's webhook lands on the first
// and half the probes listen on the second, so half the pushes measured
// cross nodes.
func fixedLoad(ctx context.Context, snd *sender, urls []string, token string, rate int, d time.Duration) (fixed, error) {
	var out fixed
	total := int(float64(rate) * d.Seconds())
	const every = 20
	// Probes subscribe before their order exists, 40 to a connection.
	var probes []*subscriber
	var watch []<-chan time.Time
	var probeNos []string
	for i := 0; i*every < total; i++ {
		if i%40 == 0 {
			p, err := dial(urls[(len(probes)+1)%len(urls)], token)
			if err != nil {
				return out, err
			}
			probes = append(probes, p)
		}
		body, nos := snd.events(1)
		_ = body
		ch, err := probes[len(probes)-1].subscribe(fmt.Sprint("p", i), `subscription($c:String!,$n:String!){ orderUpdated(channel:$c, orderNo:$n){ stage } }`,
			map[string]any{"c": "douyin", "n": nos[0]}, true)
		if err != nil {
			return out, err
		}
		watch, probeNos = append(watch, ch), append(probeNos, nos[0])
	}
	defer func() {
		for _, p := range probes {
			p.close()
		}
	}()
	time.Sleep(300 * time.Millisecond)

	var mu sync.Mutex
	sem := make(chan struct{}, 512)
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	for i := range total {
		due := start.Add(time.Duration(i) * interval)
		if w := time.Until(due); w > 0 {
			time.Sleep(w)
		}
		if ctx.Err() != nil {
			break
		}
		var body []byte
		probe := -1
		if i%every == 0 && i/every < len(probeNos) {
			probe = i / every
			body = probeBody(probeNos[probe])
		} else {
			body, _ = snd.events(1)
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			sentAt := time.Now()
			if err := snd.post(ctx, i, body, 1); err != nil {
				return
			}
			ack := time.Since(due)
			var push time.Duration = -1
			if probe >= 0 {
				select {
				case at := <-watch[probe]:
					push = at.Sub(sentAt)
				case <-time.After(30 * time.Second):
				}
			}
			mu.Lock()
			out.ack = append(out.ack, ack)
			if push >= 0 {
				out.push = append(out.push, push)
			}
			out.events++
			mu.Unlock()
		})
	}
	wg.Wait()
	out.achieved = float64(out.events) / time.Since(start).Seconds()
	slices.Sort(out.ack)
	slices.Sort(out.push)
	return out, nil
}

// probeBody is the creation of a watched order.
func probeBody(no string) []byte {
	return []byte(`{"id":"c-` + no + `","type":"order.created","occurredAt":"` + time.Now().Format(time.RFC3339Nano) +
		`","order":{"channel":"douyin","orderNo":"` + no + `"},"data":{"amount":"129.00","warehouse":"HZ-01"}}`)
}

func newSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

// startProfile profiles the process's CPU into path until the returned
// stop is called (a no-op without a path).
func startProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
