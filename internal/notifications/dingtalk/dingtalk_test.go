package dingtalk_test

import (
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/towerhq/tower/internal/notifications"
	"github.com/towerhq/tower/internal/notifications/dingtalk"

	"net/http/httptest"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// The reference vector (platforms.md §7, computed by us).
var (
	vectorSecret = "SECtest" + strings.Repeat("0", 58)
	vectorTS     = int64(1764000000000)
)

const (
	vectorB64 = "EHq5J4OaU4vP3VIzhHddO2dN4ykbi3SMeUKqF+T/hOI="
	vectorURL = "EHq5J4OaU4vP3VIzhHddO2dN4ykbi3SMeUKqF%2BT%2FhOI%3D"
	token     = "b1c2d3e4f5"
)

func TestSignReferenceVector(t *testing.T) {
	if got := dingtalk.Sign(vectorSecret, vectorTS); got != vectorB64 {
		t.Errorf("Sign = %s, want %s", got, vectorB64)
	}
	if got := url.QueryEscape(dingtalk.Sign(vectorSecret, vectorTS)); got != vectorURL {
		t.Errorf("URL-encoded = %s, want %s", got, vectorURL)
	}
	r := dingtalk.New(dingtalk.Config{Name: "ops", Secret: vectorSecret,
		WebhookURL: "https://oapi.dingtalk.com/robot/send?access_token=" + token})
	u, err := r.SignedURL(time.UnixMilli(vectorTS))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"access_token=" + token, "timestamp=1764000000000", "sign=" + vectorURL} {
		if !strings.Contains(u, want) {
			t.Errorf("signed URL %s lacks %s", u, want)
		}
	}
}

func setup(t *testing.T, secret string) (*dingtalk.Fake, *httptest.Server, *clock) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	fake := dingtalk.NewFake(token, secret, clk.Now)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return fake, srv, clk
}

var msg = notifications.Message{
	Title:    "【严重】出库未揽收 ×1,234 (仓库 GZ-03)",
	Markdown: "> 共 **1,234** 单 · 仓库 GZ-03\n\n- [tmall/123](https://tower.example/orders/tmall/123) 出库 26 小时未揽收",
	Severity: notifications.SeverityCritical,
}

func TestSendSignedMarkdownWithMentions(t *testing.T) {
	fake, srv, clk := setup(t, vectorSecret)
	cfg := dingtalk.Config{Name: "ops", WebhookURL: srv.URL + "/robot/send?access_token=" + token, Secret: vectorSecret,
		AtMobiles: []string{"13800001111"}, AtUserIDs: []string{"manager01"}, Now: clk.Now}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	r := dingtalk.New(cfg)
	m := msg
	m.MentionAll = true
	if err := r.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	got := fake.Messages()
	if len(got) != 1 {
		t.Fatalf("messages = %+v", got)
	}
	g := got[0]
	if !g.Signed || g.MsgType != "markdown" || g.Title != msg.Title || !g.MentionsInText {
		t.Errorf("message = %+v", g)
	}
	if !strings.HasPrefix(g.Text, "#### "+msg.Title+"\n\n"+msg.Markdown) || !strings.HasSuffix(g.Text, "\n\n@13800001111 @manager01") {
		t.Errorf("text = %q", g.Text)
	}
	if !g.Mentions.IsAtAll || g.Mentions.AtMobiles[0] != "13800001111" || g.Mentions.AtUserIDs[0] != "manager01" {
		t.Errorf("at = %+v", g.Mentions)
	}
}

func TestUnsignedRobotSendsEmptyAtBlock(t *testing.T) {
	fake, srv, _ := setup(t, "")
	r := dingtalk.New(dingtalk.Config{Name: "ops", WebhookURL: srv.URL + "/robot/send?access_token=" + token})
	if err := r.Send(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	b := r.Body(msg)
	if b.At.AtMobiles == nil || b.At.AtUserIDs == nil || b.At.IsAtAll {
		t.Errorf("at = %+v, want empty lists, not null", b.At)
	}
	if len(fake.Messages()) != 1 || fake.Messages()[0].Signed {
		t.Errorf("messages = %+v", fake.Messages())
	}
}

func TestSecurityFailuresArePermanent(t *testing.T) {
	_, srv, clk := setup(t, vectorSecret)
	hook := srv.URL + "/robot/send?access_token=" + token
	for name, cfg := range map[string]dingtalk.Config{
		"wrong secret": {Secret: "SECwrong", Now: clk.Now},
		"clock 2h off": {Secret: vectorSecret, Now: func() time.Time { return clk.Now().Add(-2 * time.Hour) }},
		"unsigned":     {Now: clk.Now},
	} {
		cfg.Name, cfg.WebhookURL = name, hook
		err := dingtalk.New(cfg).Send(t.Context(), msg)
		var apiErr *notifications.APIError
		if !errors.Is(err, notifications.ErrPermanent) || !errors.As(err, &apiErr) || apiErr.Code != dingtalk.CodeSecurityFailed {
			t.Errorf("%s: %v, want permanent 310000", name, err)
		}
		if err != nil && strings.Contains(err.Error(), token) {
			t.Errorf("%s: error leaks the token: %v", name, err)
		}
	}
}

func TestRateLimitThrottlesTenMinutes(t *testing.T) {
	fake, srv, clk := setup(t, vectorSecret)
	r := dingtalk.New(dingtalk.Config{Name: "ops", WebhookURL: srv.URL + "/robot/send?access_token=" + token,
		Secret: vectorSecret, Now: clk.Now})
	ctx := t.Context()
	for i := range 20 {
		if err := r.Send(ctx, msg); err != nil {
			t.Fatalf("message %d: %v", i+1, err)
		}
	}
	err := r.Send(ctx, msg)
	if wait, ok := notifications.RetryAfter(err); !errors.Is(err, notifications.ErrRateLimited) || !ok || wait != 10*time.Minute {
		t.Fatalf("21st message: %v, want rate limited for 10m", err)
	}
	clk.Advance(2 * time.Minute) // the minute is over, the throttle is not
	if err := r.Send(ctx, msg); !errors.Is(err, notifications.ErrRateLimited) {
		t.Errorf("2 minutes later: %v, want still throttled", err)
	}
	clk.Advance(8 * time.Minute)
	if err := r.Send(ctx, msg); err != nil {
		t.Errorf("10 minutes later: %v", err)
	}
	if n := len(fake.Messages()); n != 21 {
		t.Errorf("accepted %d, want 21", n)
	}
}

func TestTextCutByBytes(t *testing.T) {
	r := dingtalk.New(dingtalk.Config{Name: "ops", WebhookURL: "https://x/robot/send?access_token=t",
		AtMobiles: []string{"13800001111"}, MaxBytes: 1000})
	m := msg
	m.Markdown = strings.Repeat("揽", 2000)
	text := r.Body(m).Markdown.Text
	if len(text) > 1000 || !utf8.ValidString(text) || !strings.HasSuffix(text, "@13800001111") ||
		!strings.Contains(text, dingtalk.TruncatedMarker) {
		t.Errorf("cut text (%d bytes) = …%q", len(text), text[max(0, len(text)-80):])
	}
}
