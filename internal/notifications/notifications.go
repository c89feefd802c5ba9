// Package notifications takes Tower's alerts to the people responsible,
// where they already are: WeCom (企业微信) group robots and DingTalk (钉钉)
// custom robots.
//
// A robot accepts 20 messages a minute (DingTalk then throttles it for ten
// minutes), and an exception storm (5,000 orders not collected after a live
// stream) would otherwise become 5,000 messages. The Dispatcher therefore
// groups alerts by (rule, scope) over a window, limits every robot to its
// rate with a sliding window, merges whatever has to wait instead of dropping
// it, backs off when a robot says it is rate limited or failing, gives up at
// once on a permanent refusal (bad key, bad signature), re-notifies critical
// alerts nobody acknowledged, and writes every attempt to
// notification_deliveries.
//
// All of it works from PostgreSQL, not memory: an alert taken in is a row of
// notification_outbox (per channel, and per escalation) with the time it
// falls due, committed before the bus message that brought it is
// acknowledged. Every node runs a sender over the outbox; one at a time per
// robot (an advisory lock), it claims due rows, sends, and marks them in the
// transaction that claimed them. So a crash, a shutdown or a reload of the
// configuration loses nothing, and nothing is sent twice, except a message
// whose robot answered OK just before the node died or its commit failed:
// that one is sent again, once (robots take no idempotency key). The rate
// limit is counted from the delivery log, so it holds across nodes;
// silences are read when sending, so they hold on every node.
//
// The robots themselves are the subpackages wecom and dingtalk; each
// implements Channel. This package imports neither: package robot builds
// them from a channel's configuration.
package notifications

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Channel is one robot (one group chat) messages can be sent to.
type Channel interface {
	// Name identifies the channel in routes, logs and the delivery log.
	Name() string
	// Kind is the platform: "wecom" or "dingtalk".
	Kind() string
	// Send posts one message. Errors are classified: errors.Is(err,
	// ErrRateLimited) (the robot refused for now; RetryAfter says how long
	// to wait), errors.Is(err, ErrPermanent) (retrying cannot help: bad key
	// or signature, invalid message), anything else is transient.
	Send(ctx context.Context, m Message) error
	// MaxBytes is the largest message body the robot accepts, in bytes.
	MaxBytes() int
}

// Coster is implemented by channels whose Send may post more than one robot
// message (WeCom mentions by mobile number or @all need a text message
// besides the markdown one). The dispatcher reserves Cost(m) of the robot's
// per-minute budget for m; channels without it cost 1.
type Coster interface {
	Cost(m Message) int
}

// Message is what a channel renders in its platform's markdown.
type Message struct {
	// Title is one plain-text line, e.g. "【严重】出库未揽收 ×1,234 (仓库 GZ-03)".
	Title string
	// Markdown is the body (CommonMark-ish: bold, links, "- " lists, "> "
	// quotes, blocks separated by blank lines), without the title.
	Markdown string
	// Severity is info, warning or critical; channels colour by it.
	Severity string
	// MentionAll asks the channel to mention everyone (escalations).
	MentionAll bool
}

// Severities, lowest first.
const (
	SeverityInfo     = "info"
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// SeverityRank orders severities: info 1, warning 2, critical 3; anything
// else 0.
func SeverityRank(s string) int {
	switch s {
	case SeverityInfo:
		return 1
	case SeverityWarning:
		return 2
	case SeverityCritical:
		return 3
	}
	return 0
}

// SeverityLabel is the Chinese label shown in messages: 提示, 警告, 严重.
func SeverityLabel(s string) string {
	switch s {
	case SeverityInfo:
		return "提示"
	case SeverityWarning:
		return "警告"
	case SeverityCritical:
		return "严重"
	}
	if s == "" {
		return "告警"
	}
	return s
}

var (
	// ErrRateLimited classifies a refusal because the robot's rate limit
	// was exceeded (WeCom 45009, DingTalk 130101, HTTP 429). Use RetryAfter
	// on the error for the wait.
	ErrRateLimited = errors.New("rate limited")
	// ErrPermanent classifies a failure retrying cannot fix (WeCom 93000
	// invalid key, DingTalk 310000 security check failed, an invalid
	// message).
	ErrPermanent = errors.New("permanent failure")
)

// RateLimitError is a rate-limit refusal: errors.Is(err, ErrRateLimited).
type RateLimitError struct {
	RetryAfter time.Duration
	Err        error
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("rate limited (retry after %v): %v", e.RetryAfter, e.Err)
}
func (e *RateLimitError) Unwrap() error        { return e.Err }
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

// RateLimited wraps err as a rate-limit refusal to retry after the given
// wait.
func RateLimited(after time.Duration, err error) error {
	return &RateLimitError{RetryAfter: after, Err: err}
}

// RetryAfter is the wait a rate-limit error asks for (0 and false for other
// errors).
func RetryAfter(err error) (time.Duration, bool) {
	var rl *RateLimitError
	if errors.As(err, &rl) {
		return rl.RetryAfter, true
	}
	return 0, false
}

// PermanentError is a failure not worth retrying: errors.Is(err,
// ErrPermanent).
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string        { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error        { return e.Err }
func (e *PermanentError) Is(target error) bool { return target == ErrPermanent }

// Permanent wraps err as a permanent failure.
func Permanent(err error) error { return &PermanentError{Err: err} }

// APIError is a robot's refusal: HTTP 200 with a non-zero errcode.
type APIError struct {
	Platform string // "wecom" or "dingtalk"
	Code     int
	Message  string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s: errcode %d: %s", e.Platform, e.Code, e.Message)
}

// ConfigError is a robot configuration its client refuses: the field at
// fault (name, type, webhook_url or secret) and why, never the secret
// itself.
type ConfigError struct {
	Field string
	Msg   string
}

func (e *ConfigError) Error() string { return e.Msg }

// TruncateUTF8 returns the longest prefix of s of at most max bytes that
// ends on a rune boundary (robots count bytes; a Chinese character is 3).
func TruncateUTF8(s string, max int) string {
	if max <= 0 {
		return ""
	}
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// FitUTF8 is TruncateUTF8 that marks a cut: when s is longer than max bytes
// it keeps as much as fits together with marker, which is appended.
func FitUTF8(s string, max int, marker string) string {
	if len(s) <= max {
		return s
	}
	if len(marker) >= max {
		return TruncateUTF8(marker, max)
	}
	return TruncateUTF8(s, max-len(marker)) + marker
}
