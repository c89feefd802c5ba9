package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/towerhq/tower/domain/access"
	"github.com/towerhq/tower/internal/auth"
	"github.com/towerhq/tower/internal/config"
	"github.com/towerhq/tower/internal/pgtest"
	"github.com/towerhq/tower/internal/platforms/standard"
)

// One database for the package; every test server shares it and uses its
// own order numbers.
var (
	testDSN string
	testDB  *bun.DB
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	dsn, drop, err := pgtest.CreateDatabase(ctx, "server")
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = drop(context.Background()) }()
	testDSN = dsn
	if testDB, err = pgtest.Open(dsn); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer testDB.Close()
	return m.Run()
}

// testServer is a real Tower node on a free port.
type testServer struct {
	App    *Node
	URL    string
	Secret string
	// Token is an admin API token: s.gql and dialGraphQL send it, so the
	// tests written before accounts existed keep testing what they test.
	Token string
}

// tokenFor issues an API token of role (limited to scopes, e.g.
// "warehouse=HZ-01") on s.
func (s *testServer) tokenFor(t testing.TB, role access.Role, scopes ...string) string {
	t.Helper()
	sc, err := access.ParseScopes(scopes)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := s.App.Auth.CreateToken(context.Background(), auth.NewToken{Name: uniq("test-" + role.String() + "-"), Role: role, Scopes: sc}, "test")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// adminTokens maps a test server's URL to its admin token, for
// dialGraphQL(t, url, proto, nil).
var adminTokens sync.Map

func newSecret(t testing.TB) string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

func startServer(t testing.TB, mutate ...func(*config.Config)) *testServer {
	t.Helper()
	secret := newSecret(t)
	cfg := config.Default()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.DatabaseURL = testDSN
	cfg.NodeName = "test"
	cfg.GraphQL.BacklogPushInterval = 50 * time.Millisecond
	cfg.GraphQL.KeepAlive = time.Second
	cfg.Sources = []config.Source{{Name: "erp", Type: "standard", Settings: standard.Settings{Secrets: []string{secret}}}}
	noDemo := false
	cfg.Auth.DemoAccounts = &noDemo
	cfg.Auth.RevalidateEvery = 200 * time.Millisecond
	for _, f := range mutate {
		f(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx := context.Background()
	app, err := New(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	url, err := app.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := app.Auth.CreateToken(ctx, auth.NewToken{Name: uniq("test-admin-"), Role: access.Admin}, "test")
	if err != nil {
		t.Fatal(err)
	}
	adminTokens.Store(url, tok)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := app.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return &testServer{App: app, URL: url, Secret: secret, Token: tok}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	if _, fuzzing := w.t.(*testing.F); fuzzing {
		// A fuzz target may not log through f; its inputs' logs go to
		// stderr, shown when an input fails.
		return os.Stderr.Write(p)
	}
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// post sends body to /webhooks/{source}, signed with secret at ts.
func (s *testServer) post(t testing.TB, source, id string, ts time.Time, body []byte, secret string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+"/webhooks/"+source, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if id != "" {
		sig, err := standard.Sign(secret, id, ts.Unix(), body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("webhook-id", id)
		req.Header.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
		req.Header.Set("webhook-signature", sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

// send posts events signed with the server's secret, now.
func (s *testServer) send(t testing.TB, id string, evs ...map[string]any) (int, map[string]any) {
	t.Helper()
	var body []byte
	if len(evs) == 1 {
		body, _ = json.Marshal(evs[0])
	} else {
		body, _ = json.Marshal(map[string]any{"events": evs})
	}
	return s.post(t, "erp", id, time.Now(), body, s.Secret)
}

// ev builds a canonical event.
func ev(id, typ, channel, orderNo string, at time.Time, data map[string]any) map[string]any {
	e := map[string]any{
		"id": id, "type": typ, "occurredAt": at.Format(time.RFC3339Nano),
		"order": map[string]any{"channel": channel, "orderNo": orderNo},
	}
	if data != nil {
		e["data"] = data
	}
	return e
}

// uniq returns a fresh order number for a test.
func uniq(prefix string) string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return prefix + fmt.Sprintf("%x", b)
}

// gql runs a query over HTTP POST as an admin.
func (s *testServer) gql(t testing.TB, query string, vars map[string]any) (data map[string]any, errs []map[string]any) {
	t.Helper()
	return s.gqlAs(t, s.Token, query, vars)
}

// gqlAs runs a query over HTTP POST with an API token ("" for none).
func (s *testServer) gqlAs(t testing.TB, token, query string, vars map[string]any) (data map[string]any, errs []map[string]any) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequest(http.MethodPost, s.URL+"/graphql", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Data   map[string]any   `json:"data"`
		Errors []map[string]any `json:"errors"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Data, out.Errors
}

type cfgT = config.Config

func jsonEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc
}

type jsonRaw = json.RawMessage

func signFor(secret, id string, ts time.Time, body []byte) (string, error) {
	return standard.Sign(secret, id, ts.Unix(), body)
}
