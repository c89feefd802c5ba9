package notifications_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/towerhq/tower/internal/notifications"
	"github.com/towerhq/tower/internal/notifications/dingtalk"
	"github.com/towerhq/tower/internal/notifications/wecom"
	"github.com/towerhq/tower/internal/pgtest"
	"github.com/towerhq/tower/migrations"
)

var testDB *bun.DB

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, "notifications", &testDB)) }

var migrateOnce = sync.OnceValue(func() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return migrations.Migrate(ctx, testDB, slog.New(slog.DiscardHandler))
})

func migrated(t *testing.T) *bun.DB {
	t.Helper()
	if err := migrateOnce(); err != nil {
		t.Fatal(err)
	}
	return testDB
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func (c *clock) Set(t time.Time)         { c.mu.Lock(); c.t = t; c.mu.Unlock() }

const (
	wecomKey  = "wk-0123456789"
	dingToken = "dt-0123456789"
	dingSec   = "SECabcdef0123456789abcdef0123456789abcdef0123456789abcdef01234567"
	rule      = "outbound_not_collected"
)

var ruleTitles = map[string]string{rule: "出库未揽收"}

// env is a fake clock, a fake WeCom robot and a fake DingTalk robot.
type env struct {
	t          *testing.T
	clk        *clock
	start      time.Time
	wc         *wecom.Fake
	dt         *dingtalk.Fake
	wcURL      string
	dtURL      string
	wName      string
	dName      string
	dispatcher *notifications.Dispatcher
}

var seq atomic.Int64

// unique names a test's channels so that repetitions (-count) sharing the
// package database read only their own delivery rows.
func unique(t *testing.T) string {
	return fmt.Sprintf("%s#%d", t.Name(), seq.Add(1))
}

func newEnv(t *testing.T) *env {
	t.Helper()
	start := time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC) // 10:00 CST
	clk := &clock{t: start}
	e := &env{t: t, clk: clk, start: start,
		wc:    wecom.NewFake(wecomKey, clk.Now),
		dt:    dingtalk.NewFake(dingToken, dingSec, clk.Now),
		wName: unique(t) + "/wecom", dName: unique(t) + "/dingtalk"}
	ws, ds := httptest.NewServer(e.wc), httptest.NewServer(e.dt)
	t.Cleanup(ws.Close)
	t.Cleanup(ds.Close)
	e.wcURL = ws.URL + "/cgi-bin/webhook/send?key="
	e.dtURL = ds.URL + "/robot/send?access_token="
	return e
}

func (e *env) wecom(cfg wecom.Config) *wecom.Robot {
	if cfg.Name == "" {
		cfg.Name = e.wName
	}
	if cfg.WebhookURL == "" {
		cfg.WebhookURL = e.wcURL + wecomKey
	}
	return wecom.New(cfg)
}

func (e *env) dingtalk(cfg dingtalk.Config) *dingtalk.Robot {
	if cfg.Name == "" {
		cfg.Name = e.dName
	}
	if cfg.WebhookURL == "" {
		cfg.WebhookURL = e.dtURL + dingToken
	}
	if cfg.Secret == "" {
		cfg.Secret = dingSec
	}
	cfg.Now = e.clk.Now
	return dingtalk.New(cfg)
}

func (e *env) newDispatcher(chs []notifications.Channel, routes []notifications.Route, opts notifications.Options) *notifications.Dispatcher {
	opts.Now = e.clk.Now
	opts.RuleTitles = ruleTitles
	opts.Logger = slog.New(slog.DiscardHandler)
	if routes == nil {
		for _, c := range chs {
			routes = append(routes, notifications.Route{Channel: c.Name()})
		}
	}
	e.dispatcher = notifications.NewDispatcher(migrated(e.t), chs, routes, opts)
	return e.dispatcher
}

// notify hands alerts over, failing the test if they are not taken in.
func (e *env) notify(as ...notifications.Alert) {
	e.t.Helper()
	if err := e.dispatcher.Notify(e.t.Context(), as...); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) acknowledged(ids ...int64) {
	e.t.Helper()
	if err := e.dispatcher.Acknowledged(e.t.Context(), ids...); err != nil {
		e.t.Fatal(err)
	}
}

// pending counts the outbox rows of the dispatcher's channels still to go.
func pending(t *testing.T, d *notifications.Dispatcher) int {
	t.Helper()
	n, err := d.Pending(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// runFor advances the clock in steps, flushing after each.
func (e *env) runFor(d, step time.Duration) {
	end := e.clk.Now().Add(d)
	for e.clk.Now().Before(end) {
		e.dispatcher.Flush(e.t.Context())
		e.clk.Advance(step)
	}
	e.dispatcher.Flush(e.t.Context())
}

// settle jumps the clock from one due instant to the next until nothing is
// pending (at most limit of clock time).
func (e *env) settle(limit time.Duration) {
	e.t.Helper()
	end := e.clk.Now().Add(limit)
	for {
		next := e.dispatcher.Flush(e.t.Context())
		if next.IsZero() {
			return
		}
		if next.After(end) {
			e.t.Fatalf("still pending after %v: %d rows, %+v", limit, pending(e.t, e.dispatcher), e.dispatcher.Stats())
		}
		if next.After(e.clk.Now()) {
			e.clk.Set(next)
		}
	}
}

func alert(id int, scope, severity string, at time.Time) notifications.Alert {
	return notifications.Alert{
		ID: int64(id), Rule: rule, Kind: "late_ship", Severity: severity,
		Order: fmt.Sprintf("tmall/%d", 100000+id), Scope: scope,
		Summary: "出库超过 24 小时未揽收", Link: fmt.Sprintf("https://tower.example/orders/tmall/%d", 100000+id),
		RaisedAt: at,
	}
}

var groupLine = regexp.MustCompile(`【[^】]+】出库未揽收 ×([0-9,]+) \(([^)]+)\)`)

// counts adds up "【…】出库未揽收 ×N (scope)" headlines (a single-group
// message's title, or each section of a digest) per scope.
func counts(texts []string) (map[string]int, int) {
	per := map[string]int{}
	total := 0
	for _, s := range texts {
		for _, m := range groupLine.FindAllStringSubmatch(s, -1) {
			n, _ := strconv.Atoi(strings.ReplaceAll(m[1], ",", ""))
			per[m[2]] += n
			total += n
		}
	}
	return per, total
}

func wecomTexts(f *wecom.Fake) []string {
	var out []string
	for _, m := range f.Messages() {
		if m.MsgType == "markdown" {
			out = append(out, m.Content)
		}
	}
	return out
}

func dingTexts(t *testing.T, f *dingtalk.Fake) []string {
	var out []string
	for _, m := range f.Messages() {
		if !m.Signed || m.MsgType != "markdown" || !strings.HasPrefix(m.Text, "#### "+m.Title) {
			t.Errorf("malformed DingTalk message: %+v", m)
		}
		out = append(out, m.Text)
	}
	return out
}

func deliveries(t *testing.T, channel string) []notifications.Delivery {
	t.Helper()
	var rows []notifications.Delivery
	if err := migrated(t).NewSelect().Model(&rows).Where("channel = ?", channel).Order("id").Scan(t.Context()); err != nil {
		t.Fatal(err)
	}
	return rows
}

func sumRows(rows []notifications.Delivery, status string) (n, alerts int) {
	for _, r := range rows {
		if r.Status == status {
			n++
			alerts += r.AlertCount
		}
	}
	return n, alerts
}

func TestStormBecomesAHandfulOfMessages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.newDispatcher([]notifications.Channel{e.wecom(wecom.Config{Mentions: []string{"ops_lead"}}), e.dingtalk(dingtalk.Config{AtMobiles: []string{"13800001111"}})},
		nil, notifications.Options{})
	scopes := []string{"warehouse:GZ-03", "warehouse:GZ-03", "warehouse:GZ-03", "warehouse:GZ-03", "warehouse:SH-01", "warehouse:SH-01", "channel:douyin"}
	want := map[string]int{}
	// 5,000 alerts over 59 s, as bus messages bring them (50 at a time),
	// flushed now and then.
	var batch []notifications.Alert
	for i := range 5000 {
		s := scopes[i%len(scopes)]
		batch = append(batch, alert(i+1, s, notifications.SeverityCritical, e.clk.Now()))
		want[map[string]string{"warehouse:GZ-03": "仓库 GZ-03", "warehouse:SH-01": "仓库 SH-01", "channel:douyin": "渠道 douyin"}[s]]++
		e.clk.Advance(59 * time.Second / 5000)
		if len(batch) == 50 {
			e.notify(batch...)
			batch = nil
		}
		if i%1000 == 999 {
			d.Flush(t.Context())
		}
	}
	if len(e.wc.Messages())+len(e.dt.Messages()) != 0 {
		t.Fatal("messages before the window closed")
	}
	e.settle(time.Hour)

	for name, texts := range map[string][]string{"wecom": wecomTexts(e.wc), "dingtalk": dingTexts(t, e.dt)} {
		if len(texts) == 0 || len(texts) > 10 {
			t.Errorf("%s: %d messages for 5,000 alerts, want 1..10", name, len(texts))
		}
		per, total := counts(texts)
		t.Logf("%s: %d messages for %v", name, len(texts), per)
		if total != 5000 || fmt.Sprint(per) != fmt.Sprint(want) {
			t.Errorf("%s: counts %v (total %d), want %v", name, per, total, want)
		}
	}
	for _, c := range wecomTexts(e.wc) {
		if len(c) > wecom.MaxMarkdownBytes || !strings.HasSuffix(c, "<@ops_lead>") ||
			strings.Count(c, "\n- [tmall/") != 5 || !strings.Contains(c, "未列出") {
			t.Errorf("wecom message:\n%s", c)
		}
	}
	first := wecomTexts(e.wc)[0]
	if !strings.HasPrefix(first, `<font color="warning">**【严重】出库未揽收 ×2,858 (仓库 GZ-03)**</font>`) {
		t.Errorf("first message:\n%s", first)
	}
	for _, m := range e.dt.Messages() {
		if !m.MentionsInText || len(m.Mentions.AtMobiles) != 1 {
			t.Errorf("dingtalk mentions: %+v", m)
		}
	}
	st := d.Stats()
	if st.Received != 5000 || st.SentAlerts != 10000 || st.Grouped != st.SentAlerts-st.Sent || pending(t, d) != 0 {
		t.Errorf("stats = %+v", st)
	}
	for _, ch := range []string{e.wName, e.dName} {
		if n, alerts := sumRows(deliveries(t, ch), notifications.StatusSent); alerts != 5000 || n == 0 || n > 10 {
			t.Errorf("%s delivery log: %d sent rows for %d alerts", ch, n, alerts)
		}
	}
}

func TestRateLimitMergesWithoutDropping(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// WeCom mobile mentions cost two robot messages each.
	d := e.newDispatcher([]notifications.Channel{e.wecom(wecom.Config{MentionMobiles: []string{"13900002222"}}), e.dingtalk(dingtalk.Config{})},
		nil, notifications.Options{})
	// A new warehouse every second for 5 minutes: 300 groups, far more than
	// 20 a minute.
	for i := range 300 {
		e.notify(alert(i+1, fmt.Sprintf("warehouse:W-%03d", i), notifications.SeverityWarning, e.clk.Now()),
			alert(10000+i, fmt.Sprintf("warehouse:W-%03d", i), notifications.SeverityWarning, e.clk.Now()))
		d.Flush(t.Context())
		e.clk.Advance(time.Second)
	}
	e.runFor(10*time.Minute, 500*time.Millisecond)
	e.settle(time.Hour)

	if n := e.wc.MaxInWindow(time.Minute); n > 20 {
		t.Errorf("wecom saw %d messages within a minute", n)
	}
	if n := e.dt.MaxInWindow(time.Minute); n > 20 {
		t.Errorf("dingtalk saw %d messages within a minute", n)
	}
	for _, r := range e.wc.Requests() {
		if r.ErrCode != 0 || r.HTTPStatus != http.StatusOK {
			t.Errorf("wecom refused: %+v", r)
		}
	}
	for _, r := range e.dt.Requests() {
		if r.ErrCode != 0 || r.HTTPStatus != http.StatusOK {
			t.Errorf("dingtalk refused: %+v", r)
		}
	}
	for name, texts := range map[string][]string{"wecom": wecomTexts(e.wc), "dingtalk": dingTexts(t, e.dt)} {
		per, total := counts(texts)
		if total != 600 || len(per) != 300 {
			t.Errorf("%s: %d alerts in %d scopes delivered, want 600 in 300", name, total, len(per))
		}
		digests := 0
		for _, s := range texts {
			if strings.Contains(s, "告警汇总") {
				digests++
			}
		}
		t.Logf("%s: %d messages (%d digests), at most %d/%d in a minute", name, len(texts), digests, e.wc.MaxInWindow(time.Minute), e.dt.MaxInWindow(time.Minute))
		if digests == 0 || len(texts) > 20*16 {
			t.Errorf("%s: %d messages, %d digests", name, len(texts), digests)
		}
	}
	st := d.Stats()
	t.Logf("stats %+v", st)
	if st.RateLimitedWaits == 0 || pending(t, d) != 0 || st.SentAlerts != 1200 || st.Failed != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestRobotRateLimitBacksOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// The robots allow fewer than the dispatcher assumes (another sender
	// shares them): they answer 45009 / 130101.
	e.wc.SetLimit(3)
	e.dt.SetLimit(3)
	d := e.newDispatcher([]notifications.Channel{e.wecom(wecom.Config{}), e.dingtalk(dingtalk.Config{})}, nil, notifications.Options{})
	for i := range 10 {
		e.notify(alert(i+1, fmt.Sprintf("warehouse:W-%d", i), notifications.SeverityCritical, e.clk.Now()))
	}
	e.runFor(30*time.Minute, time.Second)
	e.settle(2 * time.Hour)

	// WeCom: 45009 → wait a minute; DingTalk: 130101 → wait ten minutes.
	for name, c := range map[string]struct {
		reqs []time.Time
		errs []time.Time
		wait time.Duration
	}{
		"wecom":    wecomReqs(e.wc),
		"dingtalk": dingReqs(e.dt),
	} {
		if len(c.errs) == 0 {
			t.Errorf("%s: never rate limited", name)
			continue
		}
		for _, refused := range c.errs {
			for _, at := range c.reqs {
				if at.After(refused) && at.Before(refused.Add(c.wait)) {
					t.Errorf("%s: request at %v, during the pause after %v", name, at.Sub(e.start), refused.Sub(e.start))
				}
			}
		}
	}
	for name, texts := range map[string][]string{"wecom": wecomTexts(e.wc), "dingtalk": dingTexts(t, e.dt)} {
		if _, total := counts(texts); total != 10 {
			t.Errorf("%s: %d alerts delivered, want 10", name, total)
		}
	}
	rows := deliveries(t, e.dName)
	n, _ := sumRows(rows, notifications.StatusRateLimited)
	if n == 0 {
		t.Errorf("no rate_limited rows: %+v", rows)
	}
	for _, r := range rows {
		if r.Status == notifications.StatusRateLimited && (r.RetryAt.Sub(r.CreatedAt) != 10*time.Minute || !strings.Contains(r.Error, "130101")) {
			t.Errorf("rate_limited row: %+v", r)
		}
	}
	if _, alerts := sumRows(rows, notifications.StatusSent); alerts != 10 {
		t.Errorf("dingtalk sent rows cover %d alerts, want 10", alerts)
	}
	if st := d.Stats(); pending(t, d) != 0 || st.Failed != 0 || st.RateLimitedWaits == 0 {
		t.Errorf("stats = %+v", st)
	}
}

type reqTimes = struct {
	reqs []time.Time
	errs []time.Time
	wait time.Duration
}

func wecomReqs(f *wecom.Fake) reqTimes {
	r := reqTimes{wait: time.Minute}
	for _, q := range f.Requests() {
		r.reqs = append(r.reqs, q.At)
		if q.ErrCode == wecom.CodeRateLimited {
			r.errs = append(r.errs, q.At)
		}
	}
	return r
}

func dingReqs(f *dingtalk.Fake) reqTimes {
	r := reqTimes{wait: 10 * time.Minute}
	for _, q := range f.Requests() {
		r.reqs = append(r.reqs, q.At)
		if q.ErrCode == dingtalk.CodeRateLimited {
			r.errs = append(r.errs, q.At)
		}
	}
	return r
}

func TestPermanentErrorsAreNotRetried(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.newDispatcher([]notifications.Channel{
		e.wecom(wecom.Config{WebhookURL: e.wcURL + "not-the-key"}),
		e.dingtalk(dingtalk.Config{Secret: "SECnot-the-secret"}),
	}, nil, notifications.Options{})
	for i := range 3 {
		e.notify(alert(i+1, "warehouse:GZ-03", notifications.SeverityCritical, e.clk.Now()))
	}
	e.runFor(2*time.Hour, 10*time.Second)
	if n := len(e.wc.Requests()); n != 1 || e.wc.Requests()[0].ErrCode != wecom.CodeInvalidKey {
		t.Errorf("wecom requests: %+v, want one answered 93000", e.wc.Requests())
	}
	if n := len(e.dt.Requests()); n != 1 || e.dt.Requests()[0].ErrCode != dingtalk.CodeSecurityFailed {
		t.Errorf("dingtalk requests: %+v, want one answered 310000", e.dt.Requests())
	}
	for ch, code := range map[string]string{e.wName: "93000", e.dName: "310000"} {
		rows := deliveries(t, ch)
		if len(rows) != 1 || rows[0].Status != notifications.StatusFailed || rows[0].Attempt != 1 ||
			!strings.Contains(rows[0].Error, code) || !rows[0].RetryAt.IsZero() || rows[0].AlertCount != 3 {
			t.Errorf("%s rows: %+v", ch, rows)
		}
		if strings.Contains(rows[0].Error, "not-the-key") {
			t.Errorf("the key leaked into the log: %s", rows[0].Error)
		}
	}
	if st := d.Stats(); st.Failed != 2 || st.FailedAlerts != 6 || st.Retries != 0 || pending(t, d) != 0 {
		t.Errorf("stats = %+v", st)
	}
}

// refusingDialer refuses the first n connections for real: it dials a port
// nobody listens on.
type refusingDialer struct {
	mu     sync.Mutex
	n      int
	closed string
}

func (r *refusingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	r.mu.Lock()
	if r.n > 0 {
		r.n--
		addr = r.closed
	}
	r.mu.Unlock()
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestTransientErrorsRetriedWithBackoff(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.wc.FailNext(http.StatusInternalServerError, http.StatusBadGateway)
	dial := &refusingDialer{n: 2, closed: closedAddr(t)}
	client := &http.Client{Transport: &http.Transport{DialContext: dial.DialContext, DisableKeepAlives: true}}
	d := e.newDispatcher([]notifications.Channel{e.wecom(wecom.Config{}), e.dingtalk(dingtalk.Config{HTTPClient: client})},
		nil, notifications.Options{RetryBackoff: 2 * time.Second})
	e.notify(alert(1, "warehouse:GZ-03", notifications.SeverityCritical, e.clk.Now()))
	e.runFor(5*time.Minute, 500*time.Millisecond)

	opened := e.start.Add(time.Minute)
	var at []time.Duration
	for _, r := range e.wc.Requests() {
		at = append(at, r.At.Sub(opened))
	}
	if fmt.Sprint(at) != "[0s 2s 6s]" {
		t.Errorf("wecom attempts at %v after the window closed, want [0s 2s 6s] (backoff 2s, 4s)", at)
	}
	if len(e.wc.Messages()) != 1 || len(e.dt.Messages()) != 1 {
		t.Errorf("delivered %d / %d, want 1 / 1", len(e.wc.Messages()), len(e.dt.Messages()))
	}
	if e.dt.Messages()[0].At.Sub(opened) != 6*time.Second {
		t.Errorf("dingtalk delivered at %v, want 6s", e.dt.Messages()[0].At.Sub(opened))
	}
	for ch, wantErr := range map[string]string{e.wName: "HTTP 500", e.dName: "connection refused"} {
		rows := deliveries(t, ch)
		if len(rows) != 3 {
			t.Fatalf("%s rows: %+v", ch, rows)
		}
		for i, r := range rows {
			if r.Attempt != i+1 || r.AlertCount != 1 || r.GroupKey != rule+"|warehouse:GZ-03" || r.LatencyMS < 0 {
				t.Errorf("%s row %d: %+v", ch, i, r)
			}
		}
		if rows[0].Status != notifications.StatusFailed || !strings.Contains(rows[0].Error, wantErr) ||
			!rows[0].RetryAt.Equal(opened.Add(2*time.Second)) || !rows[0].CreatedAt.Equal(opened) {
			t.Errorf("%s first row: %+v", ch, rows[0])
		}
		if rows[2].Status != notifications.StatusSent || rows[2].Error != "" || !rows[2].RetryAt.IsZero() {
			t.Errorf("%s last row: %+v", ch, rows[2])
		}
	}
	if st := d.Stats(); st.Retries != 4 || st.Sent != 2 || st.Failed != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestTransientErrorsGiveUpAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.wc.FailNext(500, 500, 500, 500, 500, 500)
	d := e.newDispatcher([]notifications.Channel{e.wecom(wecom.Config{})}, nil, notifications.Options{MaxAttempts: 3})
	e.notify(alert(1, "warehouse:GZ-03", notifications.SeverityCritical, e.clk.Now()))
	e.runFor(time.Hour, 5*time.Second)
	if n := len(e.wc.Requests()); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
	rows := deliveries(t, e.wName)
	if len(rows) != 3 || rows[2].Status != notifications.StatusFailed || !rows[2].RetryAt.IsZero() || rows[1].RetryAt.IsZero() {
		t.Errorf("rows: %+v", rows)
	}
	if st := d.Stats(); st.Failed != 1 || st.FailedAlerts != 1 || pending(t, d) != 0 {
		t.Errorf("stats = %+v", st)
	}
}

// silenceList is a silence store of the test's own: the package database
// is shared by parallel tests, which silences in the table would reach.
type silenceList struct {
	clk *clock
	mu  sync.Mutex
	ss  []notifications.Silence
}

func (l *silenceList) add(s notifications.Silence) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ss = append(l.ss, s)
}

// Silences are those in force by the test's clock.
func (l *silenceList) Silences(context.Context) ([]notifications.Silence, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []notifications.Silence
	for _, s := range l.ss {
		if l.clk.Now().Before(s.Until) {
			out = append(out, s)
		}
	}
	return out, nil
}

func TestSilenceSuppressesAndCounts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	silences := &silenceList{clk: e.clk}
	d := e.newDispatcher([]notifications.Channel{e.wecom(wecom.Config{})}, nil, notifications.Options{Silences: silences.Silences})
	silences.add(notifications.Silence{Rule: rule, Scope: "warehouse:GZ-03", Until: e.clk.Now().Add(30 * time.Minute)})
	for i := range 10 {
		e.notify(alert(i+1, "warehouse:GZ-03", notifications.SeverityCritical, e.clk.Now()))
	}
	for i := range 4 {
		e.notify(alert(100+i, "warehouse:SH-01", notifications.SeverityCritical, e.clk.Now()))
	}
	e.runFor(5*time.Minute, 10*time.Second)
	per, total := counts(wecomTexts(e.wc))
	if total != 4 || per["仓库 SH-01"] != 4 {
		t.Errorf("sent %v, want only SH-01 ×4", per)
	}
	// After the silence ends, GZ-03 is reported again.
	e.clk.Advance(30 * time.Minute)
	e.notify(alert(200, "warehouse:GZ-03", notifications.SeverityCritical, e.clk.Now()))
	e.runFor(2*time.Minute, 10*time.Second)
	if per, _ := counts(wecomTexts(e.wc)); per["仓库 GZ-03"] != 1 {
		t.Errorf("after the silence: %v", per)
	}
	if st := d.Stats(); st.Silenced != 10 || st.SentAlerts != 5 || pending(t, d) != 0 {
		t.Errorf("stats = %+v", st)
	}
	n, alerts := sumRows(deliveries(t, e.wName), notifications.StatusSilenced)
	if n != 1 || alerts != 10 {
		t.Errorf("silenced rows: %d for %d alerts, want 1 for 10", n, alerts)
	}
}

// TestSilenceSetDuringTheWindow: a silence reaches alerts already waiting
// in their group window, wherever they were taken in.
func TestSilenceSetDuringTheWindow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	silences := &silenceList{clk: e.clk}
	d := e.newDispatcher([]notifications.Channel{e.wecom(wecom.Config{})}, nil, notifications.Options{Silences: silences.Silences})
	e.notify(alert(1, "warehouse:GZ-03", notifications.SeverityCritical, e.clk.Now()),
		alert(2, "warehouse:SH-01", notifications.SeverityCritical, e.clk.Now()))
	e.clk.Advance(30 * time.Second)
	silences.add(notifications.Silence{Scope: "warehouse:GZ-03", Until: e.clk.Now().Add(time.Hour)})
	e.settle(time.Hour)
	if per, _ := counts(wecomTexts(e.wc)); fmt.Sprint(per) != "map[仓库 SH-01:1]" {
		t.Errorf("sent %v, want only SH-01", per)
	}
	if st := d.Stats(); st.Silenced != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestEscalationReNotifiesOnceUnlessAcknowledged(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	oncall := e.dingtalk(dingtalk.Config{Name: unique(t) + "/oncall"})
	d := e.newDispatcher([]notifications.Channel{e.wecom(wecom.Config{}), oncall},
		[]notifications.Route{{Channel: e.wName}}, // oncall only gets escalations
		notifications.Options{EscalateAfter: 15 * time.Minute, EscalateTo: oncall.Name()})
	e.notify(alert(1, "warehouse:GZ-03", notifications.SeverityCritical, e.clk.Now())) // not acknowledged
	e.notify(alert(2, "warehouse:GZ-03", notifications.SeverityCritical, e.clk.Now())) // acknowledged after 5 min
	e.notify(alert(3, "warehouse:GZ-03", notifications.SeverityWarning, e.clk.Now()))  // not critical
	e.acknowledged(4)                                                                  // acknowledged before it is even seen
	e.notify(alert(4, "warehouse:GZ-03", notifications.SeverityCritical, e.clk.Now()))
	e.runFor(5*time.Minute, 10*time.Second)
	e.acknowledged(2)
	e.runFor(3*time.Hour, 10*time.Second)

	if per, _ := counts(wecomTexts(e.wc)); per["仓库 GZ-03"] != 4 {
		t.Errorf("wecom: %v, want the 4 alerts once", per)
	}
	msgs := e.dt.Messages()
	if len(msgs) != 1 {
		t.Fatalf("oncall got %d messages, want exactly 1: %+v", len(msgs), msgs)
	}
	m := msgs[0]
	if !m.Mentions.IsAtAll || !strings.HasPrefix(m.Title, "【严重·升级】出库未揽收 ×1 (仓库 GZ-03)") ||
		!strings.Contains(m.Text, "tmall/100001") || strings.Contains(m.Text, "tmall/100002") ||
		!strings.Contains(m.Text, "已 15 分钟无人确认") {
		t.Errorf("escalation: %+v", m)
	}
	// Due 15 minutes after it arrived, sent when its group's window closed.
	if due := e.start.Add(15 * time.Minute); m.At.Before(due) || m.At.After(due.Add(time.Minute+10*time.Second)) {
		t.Errorf("escalated at %v", m.At.Sub(e.start))
	}
	rows := deliveries(t, oncall.Name())
	if len(rows) != 1 || rows[0].GroupKey != "escalation:"+rule+"|warehouse:GZ-03" || rows[0].Status != notifications.StatusSent {
		t.Errorf("oncall rows: %+v", rows)
	}
	if st := d.Stats(); st.Escalated != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestRouting(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.newDispatcher([]notifications.Channel{e.wecom(wecom.Config{}), e.dingtalk(dingtalk.Config{})},
		[]notifications.Route{
			{Channel: e.wName, Scopes: []string{"warehouse:GZ-03"}},
			{Channel: e.dName, MinSeverity: notifications.SeverityCritical, Kinds: []string{"late_ship"}},
		}, notifications.Options{})
	e.notify(alert(1, "warehouse:GZ-03", notifications.SeverityWarning, e.clk.Now()))  // wecom
	e.notify(alert(2, "warehouse:SH-01", notifications.SeverityCritical, e.clk.Now())) // dingtalk
	e.notify(alert(3, "warehouse:GZ-03", notifications.SeverityCritical, e.clk.Now())) // both
	e.notify(alert(4, "warehouse:SH-01", notifications.SeverityInfo, e.clk.Now()))     // none
	e.runFor(2*time.Minute, 10*time.Second)
	w, _ := counts(wecomTexts(e.wc))
	dt, _ := counts(dingTexts(t, e.dt))
	if fmt.Sprint(w) != "map[仓库 GZ-03:2]" || fmt.Sprint(dt) != "map[仓库 GZ-03:1 仓库 SH-01:1]" {
		t.Errorf("wecom %v, dingtalk %v", w, dt)
	}
	if st := d.Stats(); st.Unrouted != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.wecom(wecom.Config{})
	for name, c := range map[string]struct {
		chs    []notifications.Channel
		routes []notifications.Route
		opts   notifications.Options
	}{
		"unknown route channel": {[]notifications.Channel{w}, []notifications.Route{{Channel: "nope"}}, notifications.Options{}},
		"unknown severity":      {[]notifications.Channel{w}, []notifications.Route{{Channel: w.Name(), MinSeverity: "high"}}, notifications.Options{}},
		"unknown EscalateTo":    {[]notifications.Channel{w}, nil, notifications.Options{EscalateTo: "nope"}},
		"duplicate names":       {[]notifications.Channel{w, w}, nil, notifications.Options{}},
	} {
		if err := notifications.Validate(c.chs, c.routes, c.opts); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestRunOnTheRealClock runs the loop for real: short windows; and a
// group still open at shutdown stays in the outbox, for the next
// dispatcher to send when its window closes, once.
func TestRunOnTheRealClock(t *testing.T) {
	t.Parallel()
	wc := wecom.NewFake(wecomKey, nil)
	srv := httptest.NewServer(wc)
	defer srv.Close()
	robot := wecom.New(wecom.Config{Name: unique(t), WebhookURL: srv.URL + "/cgi-bin/webhook/send?key=" + wecomKey})
	start := func(window time.Duration) (*notifications.Dispatcher, context.CancelFunc, chan error) {
		d := notifications.NewDispatcher(migrated(t), []notifications.Channel{robot}, []notifications.Route{{Channel: robot.Name()}},
			notifications.Options{GroupWindow: window, RuleTitles: ruleTitles, Logger: slog.New(slog.DiscardHandler)})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		return d, cancel, done
	}
	d, cancel, done := start(50 * time.Millisecond)
	var as []notifications.Alert
	for i := range 100 {
		as = append(as, alert(i+1, "warehouse:GZ-03", notifications.SeverityCritical, time.Now()))
	}
	if err := d.Notify(t.Context(), as...); err != nil {
		t.Fatal(err)
	}
	// Counted once the send is recorded, just after the robot answered.
	pgtest.WaitFor(t, 5*time.Second, func() bool { return d.Stats().SentAlerts == 100 })
	if _, n := counts(wecomTexts(wc)); n != 100 || pending(t, d) != 0 {
		t.Errorf("%d alerts sent, %d pending; stats = %+v", n, pending(t, d), d.Stats())
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// Shut down with a group in its window: nothing is sent early, and
	// nothing is lost.
	d, cancel, done = start(time.Second)
	if err := d.Notify(t.Context(), alert(1000, "warehouse:SH-01", notifications.SeverityWarning, time.Now()),
		alert(1001, "warehouse:SH-01", notifications.SeverityWarning, time.Now()),
		alert(1002, "warehouse:SH-01", notifications.SeverityWarning, time.Now())); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := pending(t, d); n != 3 || len(wecomTexts(wc)) != 1 {
		t.Fatalf("after shutdown: %d pending, %d messages; want 3 and the first one only", n, len(wecomTexts(wc)))
	}
	// The next dispatcher (a restart, a reload) sends them when the
	// window closes, even with windows of its own much longer.
	d2, cancel2, done2 := start(time.Hour)
	pgtest.WaitFor(t, 5*time.Second, func() bool { return d2.Stats().Sent == 1 })
	time.Sleep(200 * time.Millisecond) // a second message would show by now
	cancel2()
	if err := <-done2; err != nil {
		t.Fatal(err)
	}
	if per, _ := counts(wecomTexts(wc)); per["仓库 SH-01"] != 3 || len(wecomTexts(wc)) != 2 {
		t.Errorf("after the restart: %v in %d messages, want SH-01 ×3 in one more", per, len(wecomTexts(wc))-1)
	}
	if st := d2.Stats(); st.SentAlerts != 3 || pending(t, d2) != 0 {
		t.Errorf("stats = %+v", st)
	}
}

// TestWindowRunsFromNotify: a group's window starts when Notify got its
// first alert, not when the dispatcher got round to it.
func TestWindowRunsFromNotify(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.newDispatcher([]notifications.Channel{e.wecom(wecom.Config{})}, nil, notifications.Options{})
	e.notify(alert(1, "warehouse:GZ-03", notifications.SeverityCritical, e.clk.Now()))
	e.clk.Advance(59 * time.Second)
	e.notify(alert(2, "warehouse:GZ-03", notifications.SeverityCritical, e.clk.Now()))
	e.clk.Advance(31 * time.Second)
	e.notify(alert(3, "warehouse:GZ-03", notifications.SeverityCritical, e.clk.Now())) // a new window
	next := d.Flush(t.Context())
	if per, _ := counts(wecomTexts(e.wc)); per["仓库 GZ-03"] != 2 {
		t.Errorf("first flush sent %v, want the first window's 2", per)
	}
	if want := e.start.Add(150 * time.Second); !next.Equal(want) {
		t.Errorf("next due %v, want %v", next.Sub(e.start), want.Sub(e.start))
	}
	e.clk.Set(next)
	if next := d.Flush(t.Context()); !next.IsZero() {
		t.Errorf("still due at %v", next)
	}
	if per, _ := counts(wecomTexts(e.wc)); per["仓库 GZ-03"] != 3 {
		t.Errorf("sent %v, want 3", per)
	}
}

// TestCrashAfterTakingIn: alerts taken in (committed to the outbox) by a
// dispatcher that then dies before sending, and taken in again (the bus
// redelivers the message it never acknowledged), are sent by the next
// dispatcher, once.
func TestCrashAfterTakingIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	crashed := e.newDispatcher([]notifications.Channel{e.wecom(wecom.Config{})}, nil, notifications.Options{})
	as := []notifications.Alert{
		alert(1, "warehouse:GZ-03", notifications.SeverityCritical, e.clk.Now()),
		alert(2, "warehouse:GZ-03", notifications.SeverityCritical, e.clk.Now()),
	}
	e.notify(as...)
	// A new process: a new dispatcher over the same outbox.
	d := e.newDispatcher([]notifications.Channel{e.wecom(wecom.Config{})}, nil, notifications.Options{})
	e.notify(as...)
	e.settle(time.Hour)
	if texts := wecomTexts(e.wc); len(texts) != 1 {
		t.Fatalf("%d messages, want 1: %q", len(texts), texts)
	}
	if per, _ := counts(wecomTexts(e.wc)); per["仓库 GZ-03"] != 2 {
		t.Errorf("sent %v, want GZ-03 ×2", per)
	}
	if pending(t, crashed) != 0 || d.Stats().SentAlerts != 2 {
		t.Errorf("pending %d, stats %+v", pending(t, crashed), d.Stats())
	}
}

// TestTwoNodesShareTheOutbox: two dispatchers (two nodes) over one robot,
// each taking in half the alerts and flushing at the same moments, send
// every alert once and together keep within the robot's rate limit.
func TestTwoNodesShareTheOutbox(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.newDispatcher([]notifications.Channel{e.wecom(wecom.Config{})}, nil, notifications.Options{})
	b := e.newDispatcher([]notifications.Channel{e.wecom(wecom.Config{})}, nil, notifications.Options{})
	for i := range 120 {
		d := []*notifications.Dispatcher{a, b}[i%2]
		if err := d.Notify(t.Context(), alert(i+1, fmt.Sprintf("warehouse:W-%03d", i), notifications.SeverityWarning, e.clk.Now())); err != nil {
			t.Fatal(err)
		}
		if i%4 == 3 {
			e.clk.Advance(time.Second)
		}
	}
	// Both flush at once (one gets the robot's lease, the other waits),
	// and of every three seconds one is node b's alone and one node a's
	// alone: when both flush, either may win the lease every time.
	end := e.clk.Now().Add(20 * time.Minute)
	for i := 0; e.clk.Now().Before(end); i++ {
		nodes := []*notifications.Dispatcher{a, b}
		switch i % 3 {
		case 0:
			nodes = nodes[1:]
		case 1:
			nodes = nodes[:1]
		}
		var wg sync.WaitGroup
		for _, d := range nodes {
			wg.Go(func() { d.Flush(t.Context()) })
		}
		wg.Wait()
		e.clk.Advance(time.Second)
	}
	if n := e.wc.MaxInWindow(time.Minute); n > 20 {
		t.Errorf("the robot saw %d messages within a minute", n)
	}
	for _, r := range e.wc.Requests() {
		if r.ErrCode != 0 {
			t.Errorf("robot refused: %+v", r)
		}
	}
	per, total := counts(wecomTexts(e.wc))
	if total != 120 || len(per) != 120 {
		t.Errorf("%d alerts in %d scopes delivered, want 120 in 120", total, len(per))
	}
	sa, sb := a.Stats(), b.Stats()
	t.Logf("node a sent %d messages, node b %d", sa.Sent, sb.Sent)
	if sa.SentAlerts+sb.SentAlerts != 120 || sa.Sent == 0 || sb.Sent == 0 || pending(t, a) != 0 {
		t.Errorf("stats a %+v, b %+v", sa, sb)
	}
}

// TestPruneGivesUpAndForgets: a notification still pending a day after it
// fell due is given up, whatever its channel (one deleted since has no
// dispatcher), and finished rows go after the retention. On a database of
// its own: pruning reaches every channel's rows.
func TestPruneGivesUpAndForgets(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t, t.Name())
	if err := migrations.Migrate(t.Context(), db, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	opts := notifications.Options{Now: e.clk.Now, Logger: slog.New(slog.DiscardHandler)}
	gone := notifications.NewDispatcher(db, []notifications.Channel{e.wecom(wecom.Config{Name: "deleted since"})},
		[]notifications.Route{{Channel: "deleted since"}}, opts)
	if err := gone.Notify(t.Context(), alert(1, "warehouse:GZ-03", notifications.SeverityCritical, e.clk.Now())); err != nil {
		t.Fatal(err)
	}
	d := notifications.NewDispatcher(db, []notifications.Channel{e.wecom(wecom.Config{})}, []notifications.Route{{Channel: e.wName}}, opts)
	if err := d.Notify(t.Context(), alert(2, "warehouse:GZ-03", notifications.SeverityCritical, e.clk.Now())); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(2 * time.Minute)
	d.Flush(t.Context())
	states := func() map[string]int {
		rows, err := db.QueryContext(t.Context(), `SELECT state, count(*) FROM notification_outbox GROUP BY state`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]int{}
		for rows.Next() {
			var s string
			var n int
			if err := rows.Scan(&s, &n); err != nil {
				t.Fatal(err)
			}
			out[s] = n
		}
		return out
	}
	if st := states(); fmt.Sprint(st) != "map[pending:1 sent:1]" {
		t.Fatalf("outbox %v", st)
	}
	e.clk.Advance(24 * time.Hour)
	d.Prune(t.Context())
	if st := states(); fmt.Sprint(st) != "map[failed:1 sent:1]" {
		t.Errorf("a day later: outbox %v, want the deleted channel's row given up", st)
	}
	e.clk.Advance(7*24*time.Hour + time.Minute)
	d.Prune(t.Context())
	if st := states(); len(st) != 0 {
		t.Errorf("after the retention: outbox %v, want empty", st)
	}
}
