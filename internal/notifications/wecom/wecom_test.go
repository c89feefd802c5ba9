package wecom_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/towerhq/tower/internal/notifications"
	"github.com/towerhq/tower/internal/notifications/wecom"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

const key = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"

func setup(t *testing.T) (*wecom.Fake, *httptest.Server, *clock) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	fake := wecom.NewFake(key, clk.Now)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return fake, srv, clk
}

func webhook(srv *httptest.Server, k string) string {
	return srv.URL + "/cgi-bin/webhook/send?key=" + k
}

var msg = notifications.Message{
	Title:    "【严重】出库未揽收 ×1,234 (仓库 GZ-03)",
	Markdown: "> 共 **1,234** 单 · 仓库 GZ-03\n\n- [tmall/123](https://tower.example/orders/tmall/123) 出库 26 小时未揽收",
	Severity: notifications.SeverityCritical,
}

func TestSendMarkdownWithUserMentions(t *testing.T) {
	fake, srv, _ := setup(t)
	r := wecom.New(wecom.Config{Name: "ops", WebhookURL: webhook(srv, key), Mentions: []string{"zhangsan", "lisi"}})
	if err := (wecom.Config{Name: "ops", WebhookURL: webhook(srv, key)}).Validate(); err != nil {
		t.Fatal(err)
	}
	if r.Cost(msg) != 1 {
		t.Errorf("Cost = %d, want 1 (userid mentions fit in markdown)", r.Cost(msg))
	}
	if err := r.Send(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	got := fake.Messages()
	if len(got) != 1 || got[0].MsgType != "markdown" {
		t.Fatalf("messages = %+v, want one markdown", got)
	}
	c := got[0].Content
	for _, want := range []string{
		`<font color="warning">**【严重】出库未揽收 ×1,234 (仓库 GZ-03)**</font>` + "\n",
		"[tmall/123](https://tower.example/orders/tmall/123)",
		"\n<@zhangsan> <@lisi>",
	} {
		if !strings.Contains(c, want) {
			t.Errorf("content lacks %q:\n%s", want, c)
		}
	}
}

func TestMobileAndAllMentionsSendATextMessageFirst(t *testing.T) {
	fake, srv, _ := setup(t)
	r := wecom.New(wecom.Config{Name: "ops", WebhookURL: webhook(srv, key), MentionMobiles: []string{"13800001111"}})
	m := msg
	m.MentionAll = true
	if r.Cost(m) != 2 {
		t.Errorf("Cost = %d, want 2", r.Cost(m))
	}
	if err := r.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	got := fake.Messages()
	if len(got) != 2 || got[0].MsgType != "text" || got[1].MsgType != "markdown" {
		t.Fatalf("messages = %+v, want text then markdown", got)
	}
	if got[0].Content != m.Title || strings.Join(got[0].MentionedList, ",") != "@all" ||
		strings.Join(got[0].MentionedMobileList, ",") != "13800001111" {
		t.Errorf("text message = %+v", got[0])
	}
}

func TestContentCutByBytesKeepsUTF8AndMentions(t *testing.T) {
	fake, srv, _ := setup(t)
	r := wecom.New(wecom.Config{Name: "ops", WebhookURL: webhook(srv, key), Mentions: []string{"zhangsan"}})
	for _, n := range []int{1360, 1361, 1362, 1363, 3000} { // around the limit, each offset mod 3
		m := msg
		m.Markdown = "x" + strings.Repeat("出库未揽收", n/5+1)[:3*n] // 1 + 3n bytes of Chinese
		c := r.Content(m)
		if len(c) > wecom.MaxMarkdownBytes {
			t.Errorf("n=%d: content is %d bytes, limit %d", n, len(c), wecom.MaxMarkdownBytes)
		}
		if !utf8.ValidString(c) {
			t.Errorf("n=%d: content is not valid UTF-8", n)
		}
		if !strings.HasSuffix(c, "\n<@zhangsan>") {
			t.Errorf("n=%d: mention lost: …%q", n, c[len(c)-40:])
		}
		if len(m.Markdown) > 4000 && !strings.Contains(c, wecom.TruncatedMarker) {
			t.Errorf("n=%d: cut without the marker", n)
		}
		if err := r.Send(t.Context(), m); err != nil {
			t.Errorf("n=%d: fake refused: %v", n, err)
		}
	}
	if len(fake.Messages()) != 5 {
		t.Errorf("fake accepted %d messages, want 5", len(fake.Messages()))
	}
	// Short enough: untouched.
	if c := r.Content(msg); !strings.Contains(c, msg.Markdown) || strings.Contains(c, wecom.TruncatedMarker) {
		t.Errorf("short content changed: %q", c)
	}
}

func TestErrorClassification(t *testing.T) {
	fake, srv, clk := setup(t)
	ctx := t.Context()

	// 93000: invalid key, permanent; the key never shows in the error.
	bad := wecom.New(wecom.Config{Name: "bad", WebhookURL: webhook(srv, "wrong-key-123")})
	err := bad.Send(ctx, msg)
	var apiErr *notifications.APIError
	if !errors.Is(err, notifications.ErrPermanent) || !errors.As(err, &apiErr) || apiErr.Code != wecom.CodeInvalidKey {
		t.Errorf("wrong key: %v, want permanent 93000", err)
	}
	if strings.Contains(err.Error(), "wrong-key-123") {
		t.Errorf("error leaks the key: %v", err)
	}

	// 45009: rate limited after 20 in a minute, retry after a minute.
	r := wecom.New(wecom.Config{Name: "ops", WebhookURL: webhook(srv, key)})
	for i := range 20 {
		if err := r.Send(ctx, msg); err != nil {
			t.Fatalf("message %d: %v", i+1, err)
		}
		clk.Advance(time.Second)
	}
	err = r.Send(ctx, msg)
	if wait, ok := notifications.RetryAfter(err); !errors.Is(err, notifications.ErrRateLimited) || !ok || wait != time.Minute {
		t.Errorf("21st message in a minute: %v, want rate limited for 1m", err)
	}
	clk.Advance(41 * time.Second) // the first message is now a minute old
	if err := r.Send(ctx, msg); err != nil {
		t.Errorf("after the minute: %v", err)
	}

	// HTTP 500: transient.
	fake.FailNext(http.StatusInternalServerError)
	err = r.Send(ctx, msg)
	if err == nil || errors.Is(err, notifications.ErrPermanent) || errors.Is(err, notifications.ErrRateLimited) {
		t.Errorf("HTTP 500: %v, want transient", err)
	}

	// Connection refused: transient, and no key in the error.
	ln, lerr := net.Listen("tcp", "127.0.0.1:0")
	if lerr != nil {
		t.Fatal(lerr)
	}
	addr := ln.Addr().String()
	ln.Close()
	down := wecom.New(wecom.Config{Name: "down", WebhookURL: "http://" + addr + "/cgi-bin/webhook/send?key=secret-key-456"})
	err = down.Send(ctx, msg)
	if err == nil || errors.Is(err, notifications.ErrPermanent) || strings.Contains(err.Error(), "secret-key-456") {
		t.Errorf("connection refused: %v, want transient without the key", err)
	}
}

func TestFakeValidatesRequests(t *testing.T) {
	_, srv, _ := setup(t)
	post := func(body string) notifications.RobotReply {
		t.Helper()
		resp, err := http.Post(webhook(srv, key), "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var reply notifications.RobotReply
		if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil {
			t.Fatal(err)
		}
		return reply
	}
	if r := post(`{"msgtype":"markdown","markdown":{"content":"` + strings.Repeat("啊", 1366) + `"}}`); r.ErrCode != wecom.CodeInvalidParameter {
		t.Errorf("4098-byte markdown: %+v, want 40058", r)
	}
	if r := post(`{"msgtype":"news"}`); r.ErrCode != wecom.CodeInvalidMsgType {
		t.Errorf("unknown msgtype: %+v, want 40008", r)
	}
	if r := post(`{"msgtype":"markdown","markdown":{"content":"ok"}}`); r.ErrCode != 0 {
		t.Errorf("valid markdown: %+v", r)
	}
}

func TestSendHonoursContext(t *testing.T) {
	_, srv, _ := setup(t)
	r := wecom.New(wecom.Config{Name: "ops", WebhookURL: webhook(srv, key)})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := r.Send(ctx, msg); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
