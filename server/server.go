// Package server serves Tower over HTTP: the webhook endpoint, GraphQL
// (HTTP and websockets), health and metrics probes, the SPA, and the
// profiler on a listener of its own. It builds nothing else: the parts it
// serves come ready-made through Options (see internal/app).
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/towerhq/tower/graph/resolvers"
	"github.com/towerhq/tower/internal/ingest"
	"github.com/towerhq/tower/internal/metrics"
	"github.com/towerhq/tower/internal/platforms"
)

// Check is one readiness condition: /readyz answers 503 while any fails.
type Check struct {
	Name  string
	Check func(context.Context) error
}

// Submitter stores a webhook delivery durably (the ingest committer).
type Submitter interface {
	Submit(ctx context.Context, d *ingest.Delivery) (ingest.Result, error)
}

// Options is everything the server serves.
type Options struct {
	// Addr is the public listen address; DebugAddr, when set, serves the
	// profiler.
	Addr, DebugAddr string
	// Sources are the webhook senders by name (the {source} of the path).
	Sources map[string]platforms.Source
	Ingest  Submitter
	// Audit stores refused deliveries (Ingest when nil), within Refusals.
	Audit    Submitter
	Refusals *Refusals
	// MaxBody bounds a webhook body.
	MaxBody int64
	// Resolver answers GraphQL.
	Resolver       *resolvers.Resolver
	AllowedOrigins []string
	KeepAlive      time.Duration
	Ready          []Check
	Metrics        *metrics.Metrics
	Logger         *slog.Logger
	Now            func() time.Time
	// Export bounds the CSV export of orders.
	Export Export
	// Auth decides who may use the API (everything but the SPA's files,
	// the probes and the webhooks, which carry their own signatures).
	Auth Auth
}

// Server is Tower's HTTP side; Listen, then Serve, then Shutdown.
type Server struct {
	o       Options
	log     *slog.Logger
	handler http.Handler
	http    *http.Server
	ln      net.Listener
	debug   *http.Server
	debugLn net.Listener
	authn   *authn
	stop    context.CancelFunc
}

// New builds the routes.
func New(o Options) *Server {
	s := &Server{o: o, log: o.Logger}
	if o.Audit == nil {
		o.Audit = o.Ingest
	}
	mux := http.NewServeMux()
	mux.Handle("POST /webhooks/{source}", &webhooks{
		sources: o.Sources, committer: o.Ingest, audit: o.Audit, refusals: o.Refusals, maxBody: o.MaxBody,
		m: o.Metrics, log: o.Logger.With("component", "webhooks"), now: o.Now,
	})
	s.authn = newAuthn(o.Auth, o.Metrics, o.Logger.With("component", "auth"))
	gql := s.authn.guard(newGraphQL(o.Resolver, o.AllowedOrigins, o.KeepAlive, s.authn, o.Metrics, o.Logger.With("component", "graphql")))
	for _, m := range []string{"GET", "POST", "OPTIONS"} {
		mux.Handle(m+" /graphql", gql)
	}
	o.Export.defaults()
	mux.Handle("GET /api/export/orders.csv", s.authn.guard(&exporter{res: o.Resolver, policy: o.Auth.Policy, o: o.Export,
		log: o.Logger.With("component", "export")}))
	mux.Handle("GET /api/export/system.csv", s.authn.guard(&systemExporter{res: o.Resolver, policy: o.Auth.Policy,
		log: o.Logger.With("component", "export")}))
	mux.HandleFunc("POST /auth/login", s.authn.login)
	mux.HandleFunc("POST /auth/logout", s.authn.logout)
	mux.HandleFunc("GET /auth/session", s.authn.session)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.ready)
	mux.Handle("GET /metrics", s.authn.metrics(promhttp.HandlerFor(o.Metrics.Registry, promhttp.HandlerOpts{})))
	mux.Handle("GET /", spa())
	s.handler = mux
	s.http = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn),
	}
	return s
}

// Handler is every route, for tests that need no listener.
func (s *Server) Handler() http.Handler { return s.handler }

// Listen binds the public (and debug) addresses and returns the URL the
// server will answer on. Nothing is served until Serve.
func (s *Server) Listen() (string, error) {
	ln, err := net.Listen("tcp", s.o.Addr)
	if err != nil {
		return "", fmt.Errorf("listen on %s: %w", s.o.Addr, err)
	}
	s.ln = ln
	if s.o.DebugAddr != "" {
		if s.debugLn, err = net.Listen("tcp", s.o.DebugAddr); err != nil {
			_ = ln.Close()
			return "", fmt.Errorf("listen on debug_addr %s: %w", s.o.DebugAddr, err)
		}
	}
	return "http://" + displayAddr(ln.Addr()), nil
}

// Serve answers on the listeners Listen bound, in the background.
func (s *Server) Serve() {
	ctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	go s.authn.revalidate(ctx)
	go func() {
		if err := s.http.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server stopped", "err", err)
		}
	}()
	if s.debugLn != nil {
		s.serveDebug(s.debugLn)
	}
}

// Shutdown stops accepting and waits for requests in flight (each webhook
// that was acknowledged is committed before its answer).
func (s *Server) Shutdown(ctx context.Context) error {
	if s.stop != nil {
		s.stop()
	}
	if s.debug != nil {
		_ = s.debug.Close()
	} else if s.debugLn != nil {
		_ = s.debugLn.Close()
	}
	if s.ln == nil {
		return nil
	}
	if err := s.http.Shutdown(ctx); err != nil {
		return fmt.Errorf("http shutdown: %w", err)
	}
	return nil
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	var problems []string
	for _, c := range s.o.Ready {
		if err := c.Check(ctx); err != nil {
			problems = append(problems, c.Name+": "+err.Error())
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if len(problems) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		for _, p := range problems {
			_, _ = w.Write([]byte(p + "\n"))
		}
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// displayAddr turns a wildcard listen address into one a browser can open.
func displayAddr(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if ok && tcp.IP.IsUnspecified() {
		return fmt.Sprintf("localhost:%d", tcp.Port)
	}
	return addr.String()
}
