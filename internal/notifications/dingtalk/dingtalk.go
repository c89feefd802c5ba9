// Package dingtalk sends notifications to a DingTalk (钉钉) custom robot:
//
//	POST https://oapi.dingtalk.com/robot/send?access_token=TOKEN[&timestamp=MS&sign=SIGN]
//	{"msgtype":"markdown","markdown":{"title":"…","text":"…"},
//	 "at":{"atMobiles":["138…"],"atUserIds":["…"],"isAtAll":false}}
//
// With a secret ("SEC…") every request is signed: sign =
// URL-encode(base64(HMAC-SHA256(key=secret, timestamp+"\n"+secret))), the
// timestamp in milliseconds (DingTalk refuses one more than an hour off).
// People mentioned in the at block are also written as @mobile / @userid in
// the text, which is what makes DingTalk highlight them.
//
// Answers are HTTP 200 {"errcode":0,"errmsg":"ok"}; errors too. 130101
// (over 20 messages a minute) throttles the robot for ten minutes:
// notifications.ErrRateLimited with a ten-minute wait. 310000 (security
// check failed: sign not match, keyword missing, IP not allowed) and 300001
// (access token does not exist; [U], from memory, not our reference) are
// notifications.ErrPermanent; other codes are transient.
package dingtalk

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/towerhq/tower/internal/notifications"
)

// Kind is the Channel kind.
const Kind = "dingtalk"

// DefaultMaxBytes bounds the markdown text. DingTalk's own limit is not in
// our reference [U]; this is deliberately conservative, and Config.MaxBytes
// overrides it.
const DefaultMaxBytes = 4096

// Robot error codes.
const (
	CodeOK             = 0
	CodeRateLimited    = 130101
	CodeSecurityFailed = 310000
	CodeBadToken       = 300001 // [U]
)

// ThrottleWait is how long DingTalk throttles a robot that exceeded 20
// messages a minute.
const ThrottleWait = 10 * time.Minute

// TimestampTolerance is how far the signed timestamp may be from
// DingTalk's clock.
const TimestampTolerance = time.Hour

// TruncatedMarker ends a text cut to fit.
const TruncatedMarker = "\n\n…(内容过长,已截断)"

// Config is one robot.
type Config struct {
	Name string
	// WebhookURL is the full URL including ?access_token=.
	WebhookURL string
	// Secret ("SEC…") turns on signing; empty for robots secured by
	// keywords or an IP allow-list.
	Secret    string
	AtMobiles []string
	AtUserIDs []string
	// AtAll mentions everyone in every message.
	AtAll bool
	// HTTPClient defaults to a client with a 10 s timeout.
	HTTPClient *http.Client
	// Now is the clock for the signed timestamp (default time.Now).
	Now func() time.Time
	// MaxBytes bounds the markdown text (default DefaultMaxBytes).
	MaxBytes int
}

// Validate reports what is wrong with the configuration, without secrets,
// as a *notifications.ConfigError naming the field.
func (c Config) Validate() error {
	if c.Name == "" {
		return &notifications.ConfigError{Field: "name", Msg: "dingtalk: robot without a name"}
	}
	u, err := url.Parse(c.WebhookURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return &notifications.ConfigError{Field: "webhook_url", Msg: fmt.Sprintf("dingtalk %s: webhook URL is not an http(s) URL", c.Name)}
	}
	if u.Query().Get("access_token") == "" {
		return &notifications.ConfigError{Field: "webhook_url",
			Msg: fmt.Sprintf("dingtalk %s: webhook URL %s has no access_token", c.Name, notifications.RedactURL(c.WebhookURL))}
	}
	if c.Secret != "" && !strings.HasPrefix(c.Secret, "SEC") {
		return &notifications.ConfigError{Field: "secret", Msg: fmt.Sprintf("dingtalk %s: a signing secret starts with SEC", c.Name)}
	}
	return nil
}

// Robot is a notifications.Channel.
type Robot struct {
	cfg    Config
	client *http.Client
}

var _ notifications.Channel = (*Robot)(nil)

// New returns the robot; a bad configuration shows as Send errors (check
// Config.Validate first).
func New(cfg Config) *Robot {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	r := &Robot{cfg: cfg, client: cfg.HTTPClient}
	if r.client == nil {
		r.client = &http.Client{Timeout: 10 * time.Second}
	}
	return r
}

func (r *Robot) Name() string  { return r.cfg.Name }
func (r *Robot) Kind() string  { return Kind }
func (r *Robot) MaxBytes() int { return r.cfg.MaxBytes }

// Sign is base64(HMAC-SHA256(key=secret, msg=timestamp+"\n"+secret)), not
// yet URL-encoded; timestampMS is unix milliseconds.
func Sign(secret string, timestampMS int64) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(timestampMS, 10) + "\n" + secret))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// SignedURL is the webhook URL with timestamp and sign added (unchanged
// without a secret).
func (r *Robot) SignedURL(at time.Time) (string, error) {
	if r.cfg.Secret == "" {
		return r.cfg.WebhookURL, nil
	}
	u, err := url.Parse(r.cfg.WebhookURL)
	if err != nil {
		return "", fmt.Errorf("parse webhook URL %s: %v", notifications.RedactURL(r.cfg.WebhookURL), err)
	}
	ts := at.UnixMilli()
	q := u.Query()
	q.Set("timestamp", strconv.FormatInt(ts, 10))
	q.Set("sign", Sign(r.cfg.Secret, ts)) // Encode URL-encodes it
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// At is the mention block.
type At struct {
	AtMobiles []string `json:"atMobiles"`
	AtUserIDs []string `json:"atUserIds"`
	IsAtAll   bool     `json:"isAtAll"`
}

// MarkdownBody is the request body of a markdown message.
type MarkdownBody struct {
	MsgType  string `json:"msgtype"` // "markdown"
	Markdown struct {
		Title string `json:"title"`
		Text  string `json:"text"`
	} `json:"markdown"`
	At At `json:"at"`
}

// Body renders m: the title as a heading, the body (cut on a character
// boundary to MaxBytes, marked), then the @mentions, which are never cut.
func (r *Robot) Body(m notifications.Message) MarkdownBody {
	var b MarkdownBody
	b.MsgType = "markdown"
	title := notifications.FitUTF8(strings.Join(strings.Fields(m.Title), " "), 512, "…")
	b.Markdown.Title = title
	b.At = At{
		AtMobiles: nonNil(r.cfg.AtMobiles),
		AtUserIDs: nonNil(r.cfg.AtUserIDs),
		IsAtAll:   r.cfg.AtAll || m.MentionAll,
	}
	var mentions []string
	for _, p := range r.cfg.AtMobiles {
		mentions = append(mentions, "@"+p)
	}
	for _, id := range r.cfg.AtUserIDs {
		mentions = append(mentions, "@"+id)
	}
	var tail string
	if len(mentions) > 0 {
		tail = "\n\n" + notifications.TruncateUTF8(strings.Join(mentions, " "), 1024)
	}
	head := "#### " + title + "\n\n"
	body := notifications.FitUTF8(m.Markdown, r.cfg.MaxBytes-len(head)-len(tail), TruncatedMarker)
	b.Markdown.Text = head + body + tail
	return b
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Send posts m as one markdown message, signed when there is a secret.
func (r *Robot) Send(ctx context.Context, m notifications.Message) error {
	u, err := r.SignedURL(r.cfg.Now())
	if err != nil {
		return notifications.Permanent(fmt.Errorf("dingtalk %s: %w", r.cfg.Name, err))
	}
	reply, err := notifications.PostJSON(ctx, r.client, u, r.Body(m), time.Minute)
	if err != nil {
		return fmt.Errorf("dingtalk %s: %w", r.cfg.Name, err)
	}
	if err := Classify(reply); err != nil {
		return fmt.Errorf("dingtalk %s: %w", r.cfg.Name, err)
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
		return notifications.RateLimited(ThrottleWait, apiErr)
	case CodeSecurityFailed, CodeBadToken:
		return notifications.Permanent(apiErr)
	}
	return apiErr
}
