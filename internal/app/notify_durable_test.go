package app

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/uptrace/bun"

	"github.com/towerhq/tower/domain/notify"
	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/alerts"
	"github.com/towerhq/tower/internal/config"
	"github.com/towerhq/tower/internal/detection"
	"github.com/towerhq/tower/internal/notifications/wecom"
	"github.com/towerhq/tower/internal/pgtest"
	"github.com/towerhq/tower/internal/storage"
	"github.com/towerhq/tower/migrations"
)

// These tests give every robot channel a name of its own: the package's
// nodes share one database, so one test's outbox rows must not find
// another test's robot.

// wecomRobot is a fake WeCom group robot and the file channel for it.
func wecomRobot(t *testing.T, name, key string) (*wecom.Fake, notify.Channel) {
	t.Helper()
	fake := wecom.NewFake(key, nil)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return fake, notify.Channel{Name: name, Type: "wecom", WebhookURL: srv.URL + "/cgi-bin/webhook/send?key=" + key}
}

// vagueOrder posts a paid order from warehouse wh whose address the
// default vague_address rule flags (a warning alert scoped to wh). Phone
// and address are the order's own, so that no burst rule fires besides.
func vagueOrder(t *testing.T, s *testServer, no, wh string) {
	t.Helper()
	phone := fmt.Sprintf("139%08d", mrand.IntN(100_000_000))
	if st, body := s.send(t, "v-"+no, ev("v-"+no, "order.paid", "douyin", no, time.Now(), map[string]any{
		"amount": "99.00", "warehouse": wh,
		"receiver": map[string]any{"name": "张三", "phone": phone, "province": "浙江省", "city": "杭州市", "address": no + "万达广场后面"},
	})); st != 200 {
		t.Fatalf("webhook: %d %v", st, body)
	}
}

// mentioning counts the markdown messages that mention s.
func mentioning(f *wecom.Fake, s string) int {
	n := 0
	for _, m := range f.Messages() {
		if m.MsgType == "markdown" && strings.Contains(m.Content, s) {
			n++
		}
	}
	return n
}

// outboxStates counts a channel's outbox rows by state (tombstones of
// acknowledgements included).
func outboxStates(t *testing.T, channel string) map[string]int {
	t.Helper()
	rows, err := testDB.QueryContext(t.Context(), `SELECT state, count(*) FROM notification_outbox WHERE channel = ? GROUP BY state`, channel)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			t.Fatal(err)
		}
		out[st] = n
	}
	return out
}

// settled waits until a channel has no pending rows, then a little more,
// so that a second message would have shown.
func settled(t *testing.T, channel string) {
	t.Helper()
	pgtest.WaitFor(t, 20*time.Second, func() bool { return outboxStates(t, channel)["pending"] == 0 })
	time.Sleep(700 * time.Millisecond)
}

// crashSpec is what the child node of TestNotificationSurvivesACrash runs
// with.
type crashSpec struct {
	DSN    string
	Notify config.Notify
}

const crashEnv = "TOWER_TEST_CRASH_NODE"

// TestCrashNode is not a test of its own: TestNotificationSurvivesACrash
// runs it in a child process as the node it kills.
func TestCrashNode(t *testing.T) {
	raw := os.Getenv(crashEnv)
	if raw == "" {
		t.Skip("the node TestNotificationSurvivesACrash kills")
	}
	var spec crashSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, func(c *cfgT) {
		c.DatabaseURL = spec.DSN
		c.Notify = spec.Notify
	})
	// testDSN is this process's own, unused, database: the parent drops
	// it, since this process never gets to.
	os.Stdout.WriteString("DB " + testDSN + "\nSECRET " + s.Secret + "\nNODE " + s.URL + "\n")
	time.Sleep(5 * time.Minute)
}

// (a) A node killed (SIGKILL) after an alert reached the outbox and before
// its robot message went: the node started next sends it, once.
func TestNotificationSurvivesACrash(t *testing.T) {
	fake, ch := wecomRobot(t, uniq("crash-"), "crash-key")
	nc := config.Notify{Channels: []notify.Channel{ch}, Routes: []notify.Route{{Channel: ch.Name, MinSeverity: "warning"}},
		GroupWindow: 5 * time.Second}
	spec, _ := json.Marshal(crashSpec{DSN: testDSN, Notify: nc})

	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashNode$", "-test.timeout=6m")
	cmd.Env = append(os.Environ(), crashEnv+"="+string(spec))
	cmd.Stderr = testWriter{t}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	kill := func() {
		if !killed {
			killed = true
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}
	t.Cleanup(kill)
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var childURL, childDB, childSecret string
	for childURL == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the child node exited before it served")
			}
			if v, ok := strings.CutPrefix(l, "DB "); ok {
				childDB = v
			}
			if v, ok := strings.CutPrefix(l, "SECRET "); ok {
				childSecret = v
			}
			if v, ok := strings.CutPrefix(l, "NODE "); ok {
				childURL = v
			}
		case <-time.After(time.Minute):
			t.Fatal("the child node did not start within a minute")
		}
	}
	go func() {
		for range lines {
		}
	}()
	t.Cleanup(func() { dropDatabaseOf(t, childDB) })

	child := &testServer{URL: childURL, Secret: childSecret}
	no, wh := uniq("CR"), uniq("WH-")
	vagueOrder(t, child, no, wh)
	pgtest.WaitFor(t, 20*time.Second, func() bool { return outboxStates(t, ch.Name)["pending"] == 1 })
	kill()
	if n := len(fake.Messages()); n != 0 {
		t.Fatalf("the node sent %d messages before it was killed: the group window is too short for this machine", n)
	}

	startServer(t, func(c *cfgT) { c.Notify = nc })
	pgtest.WaitFor(t, 20*time.Second, func() bool { return mentioning(fake, no) > 0 })
	settled(t, ch.Name)
	if n := len(fake.Messages()); n != 1 || mentioning(fake, no) != 1 {
		t.Errorf("robot got %d messages, want exactly 1 for %s", n, no)
	}
	if st := outboxStates(t, ch.Name); st["sent"] != 1 || len(st) != 1 {
		t.Errorf("outbox %v, want one sent row", st)
	}
}

// dropDatabaseOf drops the database of a DSN (the killed node's own).
func dropDatabaseOf(t *testing.T, dsn string) {
	if dsn == "" {
		return
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Error(err)
		return
	}
	name := strings.TrimPrefix(u.Path, "/")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := testDB.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		t.Errorf("drop the killed node's database: %v", err)
	}
}

// (b) Alerts waiting in their group window survive a reload of the
// robots (a channel saved through the API) and a restart of the node,
// and go out as one message, once, when the window closes.
func TestGroupWindowSurvivesReloadAndRestart(t *testing.T) {
	fake, ch := wecomRobot(t, uniq("digest-"), "digest-key")
	nc := config.Notify{Channels: []notify.Channel{ch}, Routes: []notify.Route{{Channel: ch.Name, MinSeverity: "warning"}},
		GroupWindow: 6 * time.Second}
	s := startServer(t, func(c *cfgT) { c.Notify = nc })
	wh := uniq("WH-")
	no1, no2 := uniq("GA"), uniq("GB")
	vagueOrder(t, s, no1, wh)
	vagueOrder(t, s, no2, wh)
	pgtest.WaitFor(t, 20*time.Second, func() bool { return outboxStates(t, ch.Name)["pending"] == 2 })

	// Reload: another robot saved through the API; an (empty) alerts
	// message makes the notifier find the new revision now.
	_, other := wecomRobot(t, uniq("other-"), "other-key")
	if _, errs := s.gql(t, `mutation($n:String!, $u:String!){ saveNotificationChannel(input:{name:$n, type:"wecom", webhookUrl:$u}){ name } }`,
		map[string]any{"n": other.Name, "u": other.WebhookURL}); len(errs) > 0 {
		t.Fatal(errs)
	}
	t.Cleanup(func() { _, _ = storage.NewNotifyConfig(testDB).DeleteChannel(context.Background(), other.Name) })
	if err := s.App.notifier.Handle(message.NewMessage(watermill.NewUUID(), []byte(`{"alerts":[]}`))); err != nil {
		t.Fatal(err)
	}
	// Restart.
	if err := s.App.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(fake.Messages()); n != 0 {
		t.Fatalf("%d messages before the window closed", n)
	}
	startServer(t, func(c *cfgT) { c.Notify = nc })
	pgtest.WaitFor(t, 20*time.Second, func() bool { return len(fake.Messages()) > 0 })
	settled(t, ch.Name)
	msgs := fake.Messages()
	if len(msgs) != 1 || !strings.Contains(msgs[0].Content, no1) || !strings.Contains(msgs[0].Content, no2) ||
		!strings.Contains(msgs[0].Content, "×2") {
		t.Fatalf("messages %+v, want one with both orders (×2)", msgs)
	}
}

// raiseCritical raises a critical alert on an order, as a deadline would:
// in one transaction with its bus message.
func raiseCritical(t *testing.T, s *testServer, no, scope string) int64 {
	t.Helper()
	var id int64
	err := s.App.DB.RunInTx(t.Context(), nil, func(ctx context.Context, tx bun.Tx) error {
		raised, err := alerts.Raise(ctx, tx, []alerts.Condition{{Rule: "test_escalation", Kind: "late_ship", Severity: "critical",
			Order: order.Key{Channel: "tmall", OrderNo: no}, Scope: scope, Summary: "出库超过 24 小时未揽收", Since: time.Now()}}, time.Now())
		if err != nil {
			return err
		}
		id = raised[0].ID
		return detection.Publish(ctx, s.App.Bus, tx.Tx, detection.Outcome{Alerts: raised}, false)
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// (c) An escalation survives a restart, and acknowledging an alert through
// the API (on the new node) cancels its own.
func TestEscalationSurvivesRestartAcknowledgingCancels(t *testing.T) {
	ops, opsCh := wecomRobot(t, uniq("ops-"), "ops-key")
	oncall, oncallCh := wecomRobot(t, uniq("oncall-"), "oncall-key")
	nc := config.Notify{Channels: []notify.Channel{opsCh, oncallCh}, Routes: []notify.Route{{Channel: opsCh.Name}},
		GroupWindow: 200 * time.Millisecond, EscalateAfter: 6 * time.Second, EscalateTo: oncallCh.Name}
	s := startServer(t, func(c *cfgT) { c.Notify = nc })
	scope := uniq("warehouse:ESC-")
	left, acked := uniq("EL"), uniq("EA")
	raiseCritical(t, s, left, scope)
	ackedID := raiseCritical(t, s, acked, scope)
	pgtest.WaitFor(t, 20*time.Second, func() bool { return mentioning(ops, left) > 0 && mentioning(ops, acked) > 0 })
	if st := outboxStates(t, oncallCh.Name); st["pending"] != 2 {
		t.Fatalf("oncall outbox %v, want 2 pending escalations", st)
	}

	if err := s.App.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	s2 := startServer(t, func(c *cfgT) { c.Notify = nc })
	if _, errs := s2.gql(t, `mutation($id:ID!){ acknowledgeAlert(id:$id){ state } }`, map[string]any{"id": ackedID}); len(errs) > 0 {
		t.Fatal(errs)
	}
	pgtest.WaitFor(t, 20*time.Second, func() bool { return len(oncall.Messages()) > 0 })
	settled(t, oncallCh.Name)
	if mentioning(oncall, left) != 1 || mentioning(oncall, acked) != 0 || len(oncall.Messages()) != 2 { // a text message pings @all first
		t.Errorf("oncall got %+v, want one escalation of %s only", oncall.Messages(), left)
	}
	if st := outboxStates(t, oncallCh.Name); st["sent"] != 1 || st["cancelled"] != 1 {
		t.Errorf("oncall outbox %v, want one sent, one cancelled", st)
	}
}

// (d) A silence saved through one node's API holds for the sends of
// another node sharing the database.
func TestSilenceHoldsOnEveryNode(t *testing.T) {
	fake, ch := wecomRobot(t, uniq("quiet-"), "quiet-key")
	nc := config.Notify{Channels: []notify.Channel{ch}, Routes: []notify.Route{{Channel: ch.Name, MinSeverity: "warning"}},
		GroupWindow: 300 * time.Millisecond}
	a := startServer(t, func(c *cfgT) { c.Notify = nc })
	b := startServer(t, func(c *cfgT) { c.Notify = nc })
	quiet, loud := uniq("WH-Q"), uniq("WH-L")
	if _, errs := a.gql(t, `mutation($s:String!, $u:Time!){ silence(input:{rule:"vague_address", scope:$s, until:$u, reason:"stocktaking"}){ id } }`,
		map[string]any{"s": quiet, "u": time.Now().Add(time.Hour).Format(time.RFC3339)}); len(errs) > 0 {
		t.Fatal(errs)
	}
	// Node a is gone: node b takes the alerts in and sends.
	if err := a.App.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	noQ, noL := uniq("SQ"), uniq("SL")
	vagueOrder(t, b, noQ, quiet)
	vagueOrder(t, b, noL, loud)
	pgtest.WaitFor(t, 20*time.Second, func() bool { return mentioning(fake, noL) > 0 })
	pgtest.WaitFor(t, 20*time.Second, func() bool { return outboxStates(t, ch.Name)["silenced"] == 1 })
	settled(t, ch.Name)
	if mentioning(fake, noQ) != 0 || len(fake.Messages()) != 1 {
		t.Errorf("messages %+v: the silenced order was sent", fake.Messages())
	}
	var silenced int
	if err := testDB.QueryRowContext(t.Context(), `SELECT count(*) FROM notification_deliveries WHERE channel = ? AND status = 'silenced'`,
		ch.Name).Scan(&silenced); err != nil || silenced != 1 {
		t.Errorf("silenced delivery rows: %d, %v", silenced, err)
	}
}

// (e) A robot the client refuses (saved straight into the table, past the
// API's checks) and a robot answering errors fail alone: the node starts,
// the good robot gets its messages.
func TestBadRobotFailsAlone(t *testing.T) {
	ctx := t.Context()
	if err := migrations.Migrate(ctx, testDB, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	good, goodCh := wecomRobot(t, uniq("good-"), "good-key")
	refusing, refusingCh := wecomRobot(t, uniq("refusing-"), "right-key")
	refusingCh.WebhookURL = strings.Replace(refusingCh.WebhookURL, "right-key", "wrong-key", 1) // answers 93000
	bad := uniq("bad-")
	store := storage.NewNotifyConfig(testDB)
	for _, c := range []notify.Channel{goodCh, refusingCh} {
		if err := store.SaveChannel(ctx, c, time.Now(), "test"); err != nil {
			t.Fatal(err)
		}
	}
	// No key in the URL: the WeCom client refuses it.
	if _, err := testDB.ExecContext(ctx, `INSERT INTO notification_channels (name, type, webhook_url, updated_at, updated_by)
		VALUES (?, 'wecom', 'https://qyapi.weixin.qq.com/cgi-bin/webhook/send', now(), 'test')`, bad); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, n := range []string{goodCh.Name, refusingCh.Name, bad} {
			_, _ = store.DeleteChannel(context.Background(), n)
		}
	})
	for _, n := range []string{goodCh.Name, refusingCh.Name, bad} {
		if _, err := store.AddRoute(ctx, notify.Route{Channel: n, MinSeverity: "warning"}, time.Now(), "test"); err != nil {
			t.Fatal(err)
		}
	}

	s := startServer(t, func(c *cfgT) { c.Notify.GroupWindow = 200 * time.Millisecond })
	wh := uniq("WH-")
	no := uniq("BR")
	vagueOrder(t, s, no, wh)
	pgtest.WaitFor(t, 20*time.Second, func() bool { return mentioning(good, no) == 1 })
	pgtest.WaitFor(t, 20*time.Second, func() bool { return outboxStates(t, refusingCh.Name)["failed"] == 1 })
	if rs := refusing.Requests(); len(rs) != 1 || rs[0].ErrCode != wecom.CodeInvalidKey {
		t.Errorf("refusing robot requests %+v, want one answered 93000", rs)
	}
	if st := outboxStates(t, bad); len(st) != 0 {
		t.Errorf("the bad channel has outbox rows: %v", st)
	}
	families, err := s.App.Metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	invalid := map[string]float64{}
	for _, f := range families {
		if f.GetName() == "tower_notification_channels_invalid" {
			for _, m := range f.GetMetric() {
				invalid[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
			}
		}
	}
	if invalid[bad] != 1 || len(invalid) != 1 {
		t.Errorf("tower_notification_channels_invalid = %v, want %s: 1", invalid, bad)
	}
}

// (f) A channel the robot client would refuse is refused when saved
// through GraphQL, naming the field, and is not stored.
func TestInvalidChannelRefusedThroughGraphQL(t *testing.T) {
	s := startServer(t)
	for name, c := range map[string]struct {
		input map[string]any
		field string
	}{
		"wecom without key":          {map[string]any{"type": "wecom", "webhookUrl": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"}, "webhookUrl"},
		"dingtalk without token":     {map[string]any{"type": "dingtalk", "webhookUrl": "https://oapi.dingtalk.com/robot/send"}, "webhookUrl"},
		"dingtalk secret not SEC…":   {map[string]any{"type": "dingtalk", "webhookUrl": "https://oapi.dingtalk.com/robot/send?access_token=t", "secret": "abc"}, "secret"},
		"not a URL":                  {map[string]any{"type": "wecom", "webhookUrl": "qyapi.weixin.qq.com"}, "webhookUrl"},
		"neither wecom nor dingtalk": {map[string]any{"type": "slack", "webhookUrl": "https://hooks.slack.com/x?key=k"}, "type"},
	} {
		in := map[string]any{"name": uniq("refused-")}
		for k, v := range c.input {
			in[k] = v
		}
		_, errs := s.gql(t, `mutation($in:NotificationChannelInput!){ saveNotificationChannel(input:$in){ name } }`, map[string]any{"in": in})
		if len(errs) != 1 {
			t.Errorf("%s: errors %v, want one", name, errs)
			continue
		}
		ext, _ := errs[0]["extensions"].(map[string]any)
		if ext["code"] != "BAD_USER_INPUT" || ext["field"] != c.field {
			t.Errorf("%s: %v, want BAD_USER_INPUT on %s", name, errs[0], c.field)
		}
		if msg, _ := errs[0]["message"].(string); strings.Contains(msg, "abc") {
			t.Errorf("%s: the secret is in the message: %s", name, msg)
		}
		var n int
		if err := testDB.QueryRowContext(t.Context(), `SELECT count(*) FROM notification_channels WHERE name = ?`, in["name"]).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s: stored (%d, %v)", name, n, err)
		}
	}
}
