package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/towerhq/tower/domain/access"
	"github.com/towerhq/tower/domain/figures"
	"github.com/towerhq/tower/internal/app"
	"github.com/towerhq/tower/internal/auth"
	"github.com/towerhq/tower/internal/config"
	"github.com/towerhq/tower/internal/storage"
	"github.com/towerhq/tower/migrations"
)

// ScaleOptions are `tower bench --scale`'s flags.
type ScaleOptions struct {
	// Orders in the generated history (events: about 8 per order).
	Orders int
	// Keep leaves the history's database after the run, for the next one.
	Keep bool
	// Reps is how many times each query is asked (the lookups: twice as
	// many).
	Reps  int
	Force bool
	Seed  uint64
}

// ScaleReport is the JSON report's "scale" object.
type ScaleReport struct {
	Orders            int64        `json:"orders"`
	Events            int64        `json:"events"`
	EventsPerOrder    float64      `json:"events_per_order"`
	Reused            bool         `json:"reused"`
	GenerationS       float64      `json:"generation_seconds"`
	GenerationPerS    float64      `json:"generation_orders_per_s"`
	GenerationEventsS float64      `json:"generation_events_per_s"`
	IndexS            float64      `json:"index_build_seconds"`
	DatabaseBytes     int64        `json:"database_bytes"`
	HistoryEnd        time.Time    `json:"history_end"`
	History           HistoryStats `json:"history"`
	Queries           []QueryStat  `json:"queries"`
	// ViewsP95Ms is the slowest view query's p95, LookupsP99Ms the slowest
	// lookup's p99: the goals' two figures.
	ViewsP95Ms   float64 `json:"views_p95_ms"`
	LookupsP99Ms float64 `json:"lookups_p99_ms"`
	// LoadAverage is the machine's 1-minute load average when measuring
	// began and ended: other work on the box slows every figure.
	LoadAverage [2]float64 `json:"load_average"`
}

// QueryStat is one query's latencies over HTTP, GraphQL included.
type QueryStat struct {
	Name   string  `json:"name"`
	Role   string  `json:"role"`
	Kind   string  `json:"kind"` // view | lookup
	N      int     `json:"n"`
	P50Ms  float64 `json:"p50_ms"`
	P95Ms  float64 `json:"p95_ms"`
	P99Ms  float64 `json:"p99_ms"`
	MaxMs  float64 `json:"max_ms"`
	Result string  `json:"result"` // what one answer held, for the eye
}

// historyTable marks a database holding a complete generated history.
const historyTable = `CREATE TABLE IF NOT EXISTS bench_history (
	orders bigint NOT NULL, seed bigint NOT NULL, complete boolean NOT NULL, stats jsonb NOT NULL,
	generated_at timestamptz NOT NULL)`

// RunScale generates (or reuses) a history of o.Orders orders and
// measures the views' queries and the lookups over it through a node's
// GraphQL API.
func RunScale(ctx context.Context, cfg config.Config, o ScaleOptions, progress io.Writer) (*Report, error) {
	if o.Reps <= 0 {
		o.Reps = 200
	}
	if o.Seed == 0 {
		o.Seed = 20261207
	}
	r := &Report{StartedAt: time.Now(), Scale: &ScaleReport{}}
	sr := r.Scale
	step := func(format string, args ...any) {
		fmt.Fprintf(progress, "[%5.1fs] "+format+"\n", append([]any{time.Since(r.StartedAt).Seconds()}, args...)...)
	}
	db, conn, err := server(ctx, cfg, o.Force, step)
	if err != nil {
		return nil, err
	}
	db.name = "tower_bench_scale_" + strconv.Itoa(o.Orders)
	if db.url, err = withDatabase(db.admin, db.name); err != nil {
		conn.Close(ctx)
		db.stopLocal()
		return nil, err
	}
	reused, err := existingHistory(ctx, conn, db, o)
	conn.Close(context.WithoutCancel(ctx))
	if err != nil {
		db.stopLocal()
		return nil, err
	}
	if o.Keep {
		defer db.stopLocal()
	} else {
		defer db.drop(step)
	}
	if r.Machine, err = describe(ctx, db.url); err != nil {
		return nil, err
	}
	if reused != nil {
		sr.Reused, sr.History = true, *reused
		step("reusing the history in %s: %d orders, %d events, ending %s", db.name, reused.Orders, reused.Events, reused.End.Format(time.RFC3339))
	} else {
		if err := prepareHistory(ctx, db, step); err != nil {
			return nil, err
		}
		step("generating %d orders over 90 days into %s", o.Orders, db.name)
		t0 := time.Now()
		last := time.Now()
		st, err := GenerateHistory(ctx, db.url, HistorySpec{Orders: o.Orders, Days: 90, End: time.Now(), Seed: o.Seed,
			MinuteRetention: cfg.Figures.MinuteRetention}, func(done int, phase string) {
			if phase != "orders" || time.Since(last) > 5*time.Second || done == o.Orders {
				last = time.Now()
				el := time.Since(t0).Seconds()
				step("  %s: %d/%d orders (%.0f%%), %.0f orders/s", phase, done, o.Orders, 100*float64(done)/float64(o.Orders), float64(done)/el)
			}
		})
		if err != nil {
			return nil, err
		}
		sr.History = st
		sr.GenerationS, sr.IndexS = st.Took.Seconds(), st.IndexS
		sr.GenerationPerS, sr.GenerationEventsS = float64(st.Orders)/st.Took.Seconds(), float64(st.Events)/st.Took.Seconds()
		if err := markHistory(ctx, db.url, o, st); err != nil {
			return nil, err
		}
		step("  %d orders, %d events, %d alerts, %d work items, %d rollup rows in %.0fs (of which indexes and analyze %.0fs)",
			st.Orders, st.Events, st.Alerts, st.WorkItems, st.RollupRows, st.Took.Seconds(), st.IndexS)
	}
	sr.Orders, sr.Events, sr.HistoryEnd = sr.History.Orders, sr.History.Events, sr.History.End
	if sr.Orders > 0 {
		sr.EventsPerOrder = float64(sr.Events) / float64(sr.Orders)
	}
	if sr.DatabaseBytes, err = databaseSize(ctx, db.url); err != nil {
		return nil, err
	}

	node, url, err := startScaleNode(ctx, cfg, db.url, progress)
	if err != nil {
		return nil, err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = node.Shutdown(sctx)
	}()
	tokens := map[string]string{}
	suffix := strconv.FormatInt(time.Now().Unix(), 36)
	for _, t := range []struct {
		name string
		role access.Role
		sc   access.Scopes
	}{
		{"ceo", access.CEO, access.Scopes{}}, {"ops", access.Ops, access.Scopes{}},
		{"warehouse", access.Warehouse, access.Scopes{Warehouses: []string{"HZ-01"}}},
		{"cs", access.CS, access.Scopes{}}, {"it", access.IT, access.Scopes{}},
	} {
		tok, _, err := node.Auth.CreateToken(ctx, auth.NewToken{Name: "bench-scale-" + t.name + "-" + suffix, Role: t.role, Scopes: t.sc}, "tower bench")
		if err != nil {
			return nil, fmt.Errorf("bench: token for %s: %w", t.name, err)
		}
		tokens[t.name] = tok
	}
	targets, err := lookupTargets(ctx, db.url, o.Reps*2)
	if err != nil {
		return nil, err
	}
	c := &gqlClient{url: url + "/graphql", http: &http.Client{Timeout: time.Minute}}
	sr.LoadAverage[0] = loadAverage()
	defer func() { sr.LoadAverage[1] = loadAverage() }()
	for _, q := range scaleQueries(targets, sr.HistoryEnd) {
		n := o.Reps
		if q.kind == "lookup" {
			n = o.Reps * 2
		}
		step("measuring %s as %s (%d requests)", q.name, q.role, n)
		qs, err := c.measure(ctx, tokens[q.role], q, n)
		if err != nil {
			// One broken query does not lose the others' figures.
			step("  failed: %v", err)
			qs.Result = "error: " + err.Error()
			sr.Queries = append(sr.Queries, qs)
			continue
		}
		step("  p50 %.1f ms, p95 %.1f ms, p99 %.1f ms (%s)", qs.P50Ms, qs.P95Ms, qs.P99Ms, qs.Result)
		sr.Queries = append(sr.Queries, qs)
		if q.kind == "view" {
			sr.ViewsP95Ms = max(sr.ViewsP95Ms, qs.P95Ms)
		} else {
			sr.LookupsP99Ms = max(sr.LookupsP99Ms, qs.P99Ms)
		}
	}
	r.Notes = append(r.Notes,
		"scale: each query is asked one at a time over HTTP with the role's API token, with `to` moved to the present on every request, so the reader's short-lived cache is not hit",
		"scale: PostgreSQL runs on the same machine with its configuration as found ("+r.Machine.PostgreSQL+")")
	if !sr.Reused {
		r.Notes = append(r.Notes, fmt.Sprintf("scale: history generated at %.0f orders/s (%.0f events/s), indexes built after the load", sr.GenerationPerS, sr.GenerationEventsS))
	}
	return r, nil
}

// existingHistory reports the history db already holds for o, or nil
// (after dropping a partial or different one, or creating the database).
func existingHistory(ctx context.Context, conn *pgx.Conn, db *scratchDB, o ScaleOptions) (*HistoryStats, error) {
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, db.name).Scan(&exists); err != nil {
		return nil, fmt.Errorf("bench: look for %s: %w", db.name, err)
	}
	if exists {
		st, err := readHistory(ctx, db.url, o)
		if err != nil {
			return nil, err
		}
		if st != nil {
			return st, nil
		}
		if _, err := conn.Exec(ctx, "DROP DATABASE "+pgx.Identifier{db.name}.Sanitize()+" WITH (FORCE)"); err != nil {
			return nil, fmt.Errorf("bench: drop incomplete history %s: %w", db.name, err)
		}
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db.name}.Sanitize()); err != nil {
		return nil, fmt.Errorf("bench: create %s: %w", db.name, err)
	}
	return nil, nil
}

func readHistory(ctx context.Context, dsn string, o ScaleOptions) (*HistoryStats, error) {
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("bench: connect: %w", err)
	}
	defer c.Close(context.WithoutCancel(ctx))
	var doc []byte
	err = c.QueryRow(ctx, `SELECT stats FROM bench_history WHERE complete AND orders = $1 AND seed = $2`, o.Orders, int64(o.Seed)).Scan(&doc)
	if err != nil {
		return nil, nil // no (complete) history: generate again
	}
	var st HistoryStats
	if err := json.Unmarshal(doc, &st); err != nil {
		return nil, nil
	}
	return &st, nil
}

func prepareHistory(ctx context.Context, db *scratchDB, step func(string, ...any)) error {
	bdb, err := storage.Open(ctx, db.url)
	if err != nil {
		return err
	}
	defer bdb.Close()
	step("migrating %s", db.name)
	if err := migrations.Migrate(ctx, bdb, slog.New(slog.DiscardHandler)); err != nil {
		return err
	}
	if _, err := bdb.ExecContext(ctx, historyTable); err != nil {
		return fmt.Errorf("bench: history marker: %w", err)
	}
	return nil
}

func markHistory(ctx context.Context, dsn string, o ScaleOptions, st HistoryStats) error {
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer c.Close(context.WithoutCancel(ctx))
	doc, err := json.Marshal(st)
	if err != nil {
		return err
	}
	_, err = c.Exec(ctx, `INSERT INTO bench_history (orders, seed, complete, stats, generated_at) VALUES ($1, $2, true, $3, now())`,
		o.Orders, int64(o.Seed), doc)
	return err
}

func databaseSize(ctx context.Context, dsn string) (int64, error) {
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, err
	}
	defer c.Close(context.WithoutCancel(ctx))
	var n int64
	return n, c.QueryRow(ctx, `SELECT pg_database_size(current_database())`).Scan(&n)
}

// startScaleNode starts a node on the history: no simulator, no demo
// accounts, no robots, API only.
func startScaleNode(ctx context.Context, cfg config.Config, dsn string, progress io.Writer) (*app.Node, string, error) {
	ncfg := cfg
	ncfg.Mode, ncfg.HTTPAddr, ncfg.DebugAddr, ncfg.DatabaseURL, ncfg.NodeName = "dev", "127.0.0.1:0", "", dsn, "bench-scale"
	ncfg.Simulator.Enabled = false
	noDemo := false
	ncfg.Auth.DemoAccounts = &noDemo
	ncfg.Notify = config.Notify{}
	ncfg.Sources = []config.Source{}
	if err := ncfg.Validate(); err != nil {
		return nil, "", fmt.Errorf("bench config: %w", err)
	}
	log := slog.New(slog.NewTextHandler(progress, &slog.HandlerOptions{Level: slog.LevelError}))
	node, err := app.New(ctx, ncfg, log)
	if err != nil {
		return nil, "", err
	}
	url, err := node.Start(ctx)
	if err != nil {
		_ = node.Shutdown(context.Background())
		return nil, "", err
	}
	return node, url, nil
}

// targets are real orders to look up, drawn from the whole history.
type targets struct {
	orderNos, trackingNos, phoneTails []string
	cursor                            string
}

func lookupTargets(ctx context.Context, dsn string, n int) (targets, error) {
	var t targets
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return t, err
	}
	defer c.Close(context.WithoutCancel(ctx))
	for _, q := range []struct {
		sql string
		dst *[]string
	}{
		{`SELECT order_no FROM orders TABLESAMPLE BERNOULLI (5) REPEATABLE (7) LIMIT $1`, &t.orderNos},
		{`SELECT tracking_no FROM tracking_numbers TABLESAMPLE BERNOULLI (5) REPEATABLE (7) LIMIT $1`, &t.trackingNos},
		{`SELECT lpad((g * 7919 % 10000)::text, 4, '0') FROM generate_series(1, $1) g`, &t.phoneTails},
	} {
		rows, err := c.Query(ctx, q.sql, n)
		if err != nil {
			return t, fmt.Errorf("bench: lookup targets: %w", err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				rows.Close()
				return t, err
			}
			*q.dst = append(*q.dst, s)
		}
		rows.Close()
		if len(*q.dst) == 0 {
			return t, fmt.Errorf("bench: no lookup targets (%s)", q.sql)
		}
	}
	return t, nil
}

// scaleQuery is one thing a view asks, with its variables for the i-th
// request at now.
type scaleQuery struct {
	name, role, kind string
	query            string
	vars             func(i int, now time.Time) map[string]any
	// result summarises an answer.
	result func(data json.RawMessage) string
	// spaced requests wait out the reader's short cache between them: the
	// question cannot vary (no window to move), so back to back they would
	// time the cache.
	spaced bool
}

const figuresSelection = `orders inflow outbound delivered packed
	onTimeShip { count of value } onTimeDelivery { count of value } sameDayShipping { count of value }
	abnormal { count of value } repeatedLookups { count of value } waiting { count of value } openDivergences { count of value }
	paidToWms { count p50 p90 } paidToOutbound { count p50 p90 } outboundToCollected { count p50 p90 }
	paidToFirstCourierUpdate { count p50 p90 } detectionTime { count p50 p90 }
	backlog { stage count oldestSince ageP50 ageP90 } throughput { by id packed perHour }
	hours { at orders inflow outbound packed backlog { stage count } }`

const orderSelection = `id channel orderNo stage tags warehouse courier trackingNo updatedAt`

func scaleQueries(t targets, end time.Time) []scaleQuery {
	today := func(now time.Time) time.Time {
		l := now.In(figures.Shanghai)
		return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, figures.Shanghai)
	}
	window := func(from func(now time.Time) time.Time) func(int, time.Time) map[string]any {
		return func(_ int, now time.Time) map[string]any {
			return map[string]any{"from": from(now).Format(time.RFC3339Nano), "to": now.Format(time.RFC3339Nano)}
		}
	}
	week := func(now time.Time) time.Time { return now.Add(-7 * 24 * time.Hour) }
	none := func(int, time.Time) map[string]any { return nil }
	count := func(path ...string) func(json.RawMessage) string {
		return func(d json.RawMessage) string { return summarize(d, path...) }
	}
	figs := `query($from: Time!, $to: Time!) { figures(from: $from, to: $to) { ` + figuresSelection + ` } }`
	pick := func(xs []string) func(int, time.Time) map[string]any {
		return func(i int, _ time.Time) map[string]any { return map[string]any{"t": xs[i%len(xs)]} }
	}
	lookup := `query($t: String!) { orderLookup(text: $t) { ` + orderSelection + ` } }`
	lastHour := func(_ int, now time.Time) map[string]any {
		return map[string]any{"f": map[string]any{"updatedFrom": end.Add(-time.Hour).Format(time.RFC3339Nano), "updatedTo": end.Format(time.RFC3339Nano)}}
	}
	orders := `query($f: OrderFilter, $after: String) { orders(filter: $f, first: 50, after: $after) { edges { cursor node { ` + orderSelection + ` } } pageInfo { hasNextPage endCursor } } }`
	alerts := `query($state: AlertState) { alerts(first: 50, state: $state) { edges { node { id rule kind severity state raisedAt conditionSince order { channel orderNo stage } } } pageInfo { hasNextPage } } }`
	work := `query($q: String!, $s: String) { workItems(queue: $q, status: $s, first: 50) { id queue rule status assignee createdAt order { channel orderNo stage } } }`
	return []scaleQuery{
		{name: "figures today (CEO)", role: "ceo", kind: "view", query: figs, vars: window(today), result: count("figures", "orders")},
		{name: "figures 7 days (CEO)", role: "ceo", kind: "view", query: figs, vars: window(week), result: count("figures", "orders")},
		{name: "figures today, warehouse HZ-01", role: "warehouse", kind: "view", query: figs, vars: window(today), result: count("figures", "orders")},
		{name: "figures 7 days, douyin-live shop", role: "ops", kind: "view",
			query: `query($from: Time!, $to: Time!) { figures(from: $from, to: $to, shop: "douyin-live") { ` + figuresSelection + ` } }`,
			vars:  window(week), result: count("figures", "orders")},
		{name: "fulfillmentHealth (CEO)", role: "ceo", kind: "view", spaced: true, query: `{ fulfillmentHealth { index at components { name value weight measured } } }`, vars: none, result: count("fulfillmentHealth", "index")},
		{name: "fulfillmentHealth, warehouse HZ-01", role: "warehouse", kind: "view", spaced: true, query: `{ fulfillmentHealth { index components { name value } } }`, vars: none, result: count("fulfillmentHealth", "index")},
		{name: "backlog (ops)", role: "ops", kind: "view", query: `{ backlog { total stages { stage count } } }`, vars: none, result: count("backlog", "total")},
		{name: "backlog, warehouse HZ-01", role: "warehouse", kind: "view", query: `{ backlog { total stages { stage count } } }`, vars: none, result: count("backlog", "total")},
		{name: "orders, newest 50", role: "ops", kind: "view", query: orders, vars: none, result: count("orders", "edges")},
		{name: "orders, stage PACKED", role: "ops", kind: "view", query: orders, vars: func(int, time.Time) map[string]any { return map[string]any{"f": map[string]any{"stage": "PACKED"}} }, result: count("orders", "edges")},
		{name: "orders, stage DELIVERY_FAILED", role: "ops", kind: "view", query: orders, vars: func(int, time.Time) map[string]any {
			return map[string]any{"f": map[string]any{"stage": "DELIVERY_FAILED"}}
		}, result: count("orders", "edges")},
		{name: "orders, channel douyin", role: "ops", kind: "view", query: orders, vars: func(int, time.Time) map[string]any { return map[string]any{"f": map[string]any{"channel": "douyin"}} }, result: count("orders", "edges")},
		{name: "orders, updated in the last hour", role: "ops", kind: "view", query: orders, vars: lastHour, result: count("orders", "edges")},
		{name: "orders, warehouse HZ-01 (scoped)", role: "warehouse", kind: "view", query: orders, vars: none, result: count("orders", "edges")},
		{name: "alerts, newest 50", role: "ops", kind: "view", query: alerts, vars: none, result: count("alerts", "edges")},
		{name: "alerts, FIRING", role: "ops", kind: "view", query: alerts, vars: func(int, time.Time) map[string]any { return map[string]any{"state": "FIRING"} }, result: count("alerts", "edges")},
		{name: "alerts, warehouse HZ-01 (scoped)", role: "warehouse", kind: "view", query: alerts, vars: none, result: count("alerts", "edges")},
		{name: "workItems logistics_follow_up open", role: "ops", kind: "view", query: work, vars: func(int, time.Time) map[string]any { return map[string]any{"q": "logistics_follow_up", "s": "open"} }, result: count("workItems")},
		{name: "workItems customer_service (cs)", role: "cs", kind: "view", query: work, vars: func(int, time.Time) map[string]any { return map[string]any{"q": "customer_service"} }, result: count("workItems")},
		{name: "systemFigures (IT)", role: "it", kind: "view", query: `{ systemFigures { at connectors { source requests } handlers { handler messages lagP50 } topics { topic group unread parked } } }`, vars: none, result: count("systemFigures", "topics")},
		{name: "orderLookup by order number", role: "cs", kind: "lookup", query: lookup, vars: pick(t.orderNos), result: count("orderLookup")},
		{name: "orderLookup by tracking number", role: "cs", kind: "lookup", query: lookup, vars: pick(t.trackingNos), result: count("orderLookup")},
		{name: "orderLookup by phone tail", role: "cs", kind: "lookup", query: lookup, vars: pick(t.phoneTails), result: count("orderLookup")},
	}
}

// summarize says what the value at path holds: a number as it is, a list
// by its length.
func summarize(data json.RawMessage, path ...string) string {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return "?"
	}
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return "?"
		}
		v = m[p]
	}
	switch x := v.(type) {
	case []any:
		return strconv.Itoa(len(x)) + " " + path[len(path)-1]
	case float64:
		return path[len(path)-1] + " " + strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

type gqlClient struct {
	url  string
	http *http.Client
}

type gqlAnswer struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

func (c *gqlClient) do(ctx context.Context, token, query string, vars map[string]any) (json.RawMessage, error) {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d: %.300s", resp.StatusCode, b)
	}
	var a gqlAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("decode answer: %w", err)
	}
	if len(a.Errors) > 0 {
		return nil, fmt.Errorf("GraphQL error: %s (%v)", a.Errors[0].Message, a.Errors[0].Extensions)
	}
	return a.Data, nil
}

// measure asks q n times, one after the other, after two unmeasured
// warm-up requests.
func (c *gqlClient) measure(ctx context.Context, token string, q scaleQuery, n int) (QueryStat, error) {
	qs := QueryStat{Name: q.name, Role: q.role, Kind: q.kind, N: n}
	for i := range 2 {
		if _, err := c.do(ctx, token, q.query, q.vars(i, time.Now())); err != nil {
			return qs, fmt.Errorf("bench: %s: %w", q.name, err)
		}
	}
	lat := make(latencies, 0, n)
	for i := range n {
		if q.spaced {
			time.Sleep(time.Second)
		}
		vars := q.vars(i, time.Now())
		t0 := time.Now()
		data, err := c.do(ctx, token, q.query, vars)
		if err != nil {
			return qs, fmt.Errorf("bench: %s: %w", q.name, err)
		}
		lat = append(lat, time.Since(t0))
		if i == 0 && q.result != nil {
			qs.Result = q.result(data)
		}
	}
	slices.Sort(lat)
	qs.P50Ms, qs.P95Ms, qs.P99Ms, qs.MaxMs = lat.pct(0.50), lat.pct(0.95), lat.pct(0.99), float64(lat[len(lat)-1].Microseconds())/1000
	return qs, nil
}

func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}
