// Package wecom sends notifications to a WeCom (企业微信) group robot:
//
//	POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY
//	{"msgtype":"markdown","markdown":{"content":"…"}}
//
// The key in the URL is the only credential. The markdown content is at most
// 4096 bytes (cut by bytes, on a character boundary), coloured with
// <font color="warning|info|comment"> and mentions people by userid with
// <@userid>. Markdown messages cannot mention by mobile number or @all, so
// when those are wanted Send first posts a short text message with
// mentioned_list / mentioned_mobile_list (Cost reports 2 then).
//
// Answers are HTTP 200 {"errcode":0,"errmsg":"ok"}; errors too. 45009 (over
// 20 messages a minute) is notifications.ErrRateLimited with a one-minute
// wait; 93000 (invalid webhook key), 40058 (invalid parameter, e.g. content
// too long) and 40008 (invalid message type) are notifications.ErrPermanent;
// any other code is transient.
package wecom

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/towerhq/tower/internal/notifications"
)

// Kind is the Channel kind.
const Kind = "wecom"

// Limits [V: developer.work.weixin.qq.com/document/path/91770].
const (
	MaxMarkdownBytes = 4096
	MaxTextBytes     = 2048
)

// Robot error codes.
const (
	CodeOK               = 0
	CodeInvalidMsgType   = 40008
	CodeInvalidParameter = 40058
	CodeRateLimited      = 45009
	CodeInvalidKey       = 93000
)

// RateLimitWait is how long to wait after 45009: the robot counts per
// minute.
const RateLimitWait = time.Minute

// TruncatedMarker ends a body cut to fit.
const TruncatedMarker = "\n…(内容过长,已截断)"

// Config is one robot.
type Config struct {
	Name string
	// WebhookURL is the full URL including ?key=.
	WebhookURL string
	// Mentions are userids mentioned in every message (<@userid>); "@all"
	// mentions everyone.
	Mentions []string
	// MentionMobiles are mobile numbers mentioned in every message.
	MentionMobiles []string
	// HTTPClient defaults to a client with a 10 s timeout.
	HTTPClient *http.Client
}

// Validate reports what is wrong with the configuration, without the key,
// as a *notifications.ConfigError naming the field.
func (c Config) Validate() error {
	if c.Name == "" {
		return &notifications.ConfigError{Field: "name", Msg: "wecom: robot without a name"}
	}
	u, err := url.Parse(c.WebhookURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return &notifications.ConfigError{Field: "webhook_url", Msg: fmt.Sprintf("wecom %s: webhook URL is not an http(s) URL", c.Name)}
	}
	if u.Query().Get("key") == "" {
		return &notifications.ConfigError{Field: "webhook_url",
			Msg: fmt.Sprintf("wecom %s: webhook URL %s has no key", c.Name, notifications.RedactURL(c.WebhookURL))}
	}
	return nil
}

// Robot is a notifications.Channel.
type Robot struct {
	cfg     Config
	userIDs []string
	all     bool
	client  *http.Client
}

var (
	_ notifications.Channel = (*Robot)(nil)
	_ notifications.Coster  = (*Robot)(nil)
)

// New returns the robot; a bad configuration shows as permanent Send errors
// (check Config.Validate first).
func New(cfg Config) *Robot {
	r := &Robot{cfg: cfg, client: cfg.HTTPClient}
	if r.client == nil {
		r.client = &http.Client{Timeout: 10 * time.Second}
	}
	for _, id := range cfg.Mentions {
		if id == "@all" {
			r.all = true
		} else if id != "" {
			r.userIDs = append(r.userIDs, id)
		}
	}
	return r
}

func (r *Robot) Name() string  { return r.cfg.Name }
func (r *Robot) Kind() string  { return Kind }
func (r *Robot) MaxBytes() int { return MaxMarkdownBytes }

// Cost is 2 when m needs the extra text message for @all or mobile
// mentions, else 1.
func (r *Robot) Cost(m notifications.Message) int {
	if r.needsPing(m) {
		return 2
	}
	return 1
}

func (r *Robot) needsPing(m notifications.Message) bool {
	return r.all || m.MentionAll || len(r.cfg.MentionMobiles) > 0
}

// MarkdownBody is the request body of a markdown message.
type MarkdownBody struct {
	MsgType  string `json:"msgtype"` // "markdown"
	Markdown struct {
		Content string `json:"content"`
	} `json:"markdown"`
}

// TextBody is the request body of a text message.
type TextBody struct {
	MsgType string `json:"msgtype"` // "text"
	Text    struct {
		Content             string   `json:"content"`
		MentionedList       []string `json:"mentioned_list,omitempty"`
		MentionedMobileList []string `json:"mentioned_mobile_list,omitempty"`
	} `json:"text"`
}

// Send posts m: the mention text message first when one is needed (so a
// failure leaves nothing half-sent; a retry after the markdown failed pings
// again), then the markdown message.
func (r *Robot) Send(ctx context.Context, m notifications.Message) error {
	if r.needsPing(m) {
		if err := r.post(ctx, r.PingBody(m)); err != nil {
			return err
		}
	}
	return r.post(ctx, r.MarkdownBody(m))
}

// MarkdownBody renders m as the robot's markdown message.
func (r *Robot) MarkdownBody(m notifications.Message) MarkdownBody {
	var b MarkdownBody
	b.MsgType = "markdown"
	b.Markdown.Content = r.Content(m)
	return b
}

// PingBody is the text message carrying @all and mobile mentions.
func (r *Robot) PingBody(m notifications.Message) TextBody {
	var b TextBody
	b.MsgType = "text"
	b.Text.Content = notifications.FitUTF8(oneLine(m.Title), MaxTextBytes, "…")
	if r.all || m.MentionAll {
		b.Text.MentionedList = []string{"@all"}
	}
	b.Text.MentionedMobileList = r.cfg.MentionMobiles
	return b
}

// Content is m in WeCom markdown, at most MaxMarkdownBytes: the coloured
// bold title, the body (cut on a character boundary, marked), then the
// <@userid> mentions, which are never cut.
func (r *Robot) Content(m notifications.Message) string {
	head := fmt.Sprintf("<font color=\"%s\">**%s**</font>\n", color(m.Severity), notifications.FitUTF8(oneLine(m.Title), 512, "…"))
	var tail string
	if len(r.userIDs) > 0 {
		ms := make([]string, len(r.userIDs))
		for i, id := range r.userIDs {
			ms[i] = "<@" + id + ">"
		}
		tail = "\n" + notifications.TruncateUTF8(strings.Join(ms, " "), 1024)
	}
	body := notifications.FitUTF8(m.Markdown, MaxMarkdownBytes-len(head)-len(tail), TruncatedMarker)
	return head + body + tail
}

func color(severity string) string {
	switch severity {
	case notifications.SeverityCritical, notifications.SeverityWarning:
		return "warning"
	case notifications.SeverityInfo:
		return "info"
	}
	return "comment"
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func (r *Robot) post(ctx context.Context, body any) error {
	reply, err := notifications.PostJSON(ctx, r.client, r.cfg.WebhookURL, body, RateLimitWait)
	if err != nil {
		return fmt.Errorf("wecom %s: %w", r.cfg.Name, err)
	}
	if err := Classify(reply); err != nil {
		return fmt.Errorf("wecom %s: %w", r.cfg.Name, err)
	}
	return nil
}

// Classify maps a robot reply to nil or a classified error.
func Classify(reply notifications.RobotReply) error {
	if reply.ErrCode == CodeOK {
		return nil
	}
	apiErr := &notifications.APIError{Platform: Kind, Code: reply.ErrCode, Message: reply.ErrMsg}
	switch reply.ErrCode {
	case CodeRateLimited:
		return notifications.RateLimited(RateLimitWait, apiErr)
	case CodeInvalidKey, CodeInvalidParameter, CodeInvalidMsgType:
		return notifications.Permanent(apiErr)
	}
	return apiErr
}
