package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/towerhq/tower/graph/resolvers"
	"github.com/towerhq/tower/internal/ingest"
	"github.com/towerhq/tower/internal/metrics"
)

// refusing is a store that is down: the routes below must not reach it.
type refusing struct{}

func (refusing) Submit(context.Context, *ingest.Delivery) (ingest.Result, error) {
	return ingest.Result{}, errors.New("store down")
}

// TestRoutes checks what the HTTP side answers on its own: probes that
// report each failing readiness check, the unknown-source error a
// misconfigured sender sees, and SPA routes surviving a reload.
func TestRoutes(t *testing.T) {
	dbDown := errors.New("connection refused")
	s := New(Options{
		Addr: "127.0.0.1:0", Ingest: refusing{}, MaxBody: 1 << 20, Resolver: &resolvers.Resolver{},
		KeepAlive: time.Second, Metrics: metrics.New(), Logger: slog.New(slog.DiscardHandler), Now: time.Now,
		Ready: []Check{
			{Name: "database", Check: func(context.Context) error { return dbDown }},
			{Name: "bus", Check: func(context.Context) error { return nil }},
		},
	})
	url, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })

	tests := []struct {
		method, path string
		status       int
		body         string // a part of the answer
	}{
		{"GET", "/healthz", 200, "ok"},
		{"GET", "/readyz", 503, "database: connection refused"},
		{"POST", "/webhooks/nobody", 404, `"code":"UNKNOWN_SOURCE"`},
		{"GET", "/metrics", 200, "go_goroutines"},
		{"GET", "/orders/douyin/A.1", 200, "<"},
		{"GET", "/assets/missing.js", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, url+tt.path, strings.NewReader("{}"))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || !strings.Contains(string(b), tt.body) {
				t.Errorf("%s %s: %d %q, want %d with %q", tt.method, tt.path, resp.StatusCode, b, tt.status, tt.body)
			}
			if tt.path == "/readyz" && strings.Contains(string(b), "bus") {
				t.Errorf("readyz names a passing check: %q", b)
			}
		})
	}
}
