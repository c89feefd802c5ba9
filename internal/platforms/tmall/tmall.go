// Package tmall is the Taobao/Tmall trade-message ingest source type
// ("tmall").
//
// Taobao's message service (TMC) is not a webhook: a client holds a
// long-lived connection to TMC and confirms each message, and unconfirmed
// messages are redelivered. Tower does not hold that connection; a relay
// does, and POSTs the messages here.
//
// The relay envelope is OUR PROPOSAL, not a platform format (see
// platforms.md §2, "Relayed HTTP message"):
//
//	POST /webhooks/{source}?app_key=…&timestamp=yyyy-MM-dd+HH:mm:ss&sign_method=md5&sign=…
//	{"id":…,"topic":"taobao_trade_TradeBuyerPay","pub_time":"2026-11-24 20:00:00",
//	 "pub_app_key":"…","user_id":…,"user_nick":"…","content":"{\"tid\":…,\"payment\":\"129.90\"}"}
//
// The body is one TMC message as the SDK hands it over (content being a
// JSON object encoded as a string), or a JSON array of them when the relay
// batches. The query is signed with the TOP rule (package top) over every
// query parameter except sign, with the raw body appended, keyed with the
// app secret; sign_method is md5, hmac or hmac-sha256. app_key must be the
// configured app key and timestamp (GMT+8) within Tolerance of now.
//
// The relay confirms messages to TMC only after a 2xx answer
// ({"success":true}); Tower deduplicates on the message id.
package tmall

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms"
	"github.com/towerhq/tower/internal/platforms/top"
	"github.com/towerhq/tower/internal/platforms/wire"
)

// Type is the source type name used in configuration.
const Type = "tmall"

// DefaultTolerance is how far the timestamp parameter may be from now,
// either way, when Config.Tolerance is zero. [U] The TOP gateway is said to
// allow about 10 minutes; the relay is ours, so this is our choice too.
const DefaultTolerance = 10 * time.Minute

var (
	// ErrMissingParam is wrapped (with platforms.ErrUnauthorized) when
	// app_key, timestamp, sign_method or sign is absent or empty.
	ErrMissingParam = errors.New("missing query parameter")
	// ErrWrongAppKey is wrapped (with platforms.ErrUnauthorized) when
	// app_key is not the configured app key.
	ErrWrongAppKey = errors.New("app_key is not this source's app key")
	// ErrStale is wrapped (with platforms.ErrUnauthorized) when the
	// timestamp is unreadable or further than the tolerance from now.
	ErrStale = errors.New("timestamp outside tolerance")
	// ErrBadSignature is wrapped (with platforms.ErrUnauthorized) when the
	// query is malformed for signing, sign_method is not md5, hmac or
	// hmac-sha256, or sign does not match.
	ErrBadSignature = errors.New("bad signature")
)

// Config configures one tmall source.
type Config struct {
	// Name is the source's configured name; it becomes Event.Source.
	Name string
	// Channel overrides the channel of produced events; "" means "tmall".
	Channel string
	// AppKey is the TOP app key the relay signs with (the app holding the
	// TMC connection); requests must carry it as app_key.
	AppKey string
	// AppSecret is that app's secret.
	AppSecret string
	// Tolerance is how far timestamp may be from now, either way. Zero
	// means DefaultTolerance.
	Tolerance time.Duration
}

// Source is a configured tmall source. It is safe for concurrent use.
type Source struct {
	name      string
	channel   string
	appKey    string
	secret    string
	tolerance time.Duration
	now       func() time.Time
}

var _ platforms.Source = (*Source)(nil)
var _ platforms.DeliveryIdentifier = (*Source)(nil)

// New checks cfg and returns the source. now is the clock Verify judges
// timestamps by (time.Now in production); it must not be nil. Errors never
// contain the secret.
func New(cfg Config, now func() time.Time) (*Source, error) {
	if now == nil {
		return nil, errors.New("tmall: nil clock")
	}
	if cfg.AppKey == "" {
		return nil, fmt.Errorf("tmall source %q: app_key: required", cfg.Name)
	}
	if strings.TrimSpace(cfg.AppKey) != cfg.AppKey {
		return nil, fmt.Errorf("tmall source %q: app_key: leading or trailing space", cfg.Name)
	}
	if cfg.AppSecret == "" {
		return nil, fmt.Errorf("tmall source %q: app_secret: required", cfg.Name)
	}
	if strings.TrimSpace(cfg.AppSecret) != cfg.AppSecret {
		return nil, fmt.Errorf("tmall source %q: app_secret: leading or trailing space", cfg.Name)
	}
	ch := cfg.Channel
	if ch == "" {
		ch = order.ChannelTmall
	}
	if len(ch) > 32 {
		return nil, fmt.Errorf("tmall source %q: channel: longer than 32 characters", cfg.Name)
	}
	tol := cfg.Tolerance
	switch {
	case tol < 0:
		return nil, fmt.Errorf("tmall source %q: tolerance: negative", cfg.Name)
	case tol == 0:
		tol = DefaultTolerance
	}
	return &Source{name: cfg.Name, channel: ch, appKey: cfg.AppKey, secret: cfg.AppSecret, tolerance: tol, now: now}, nil
}

// Name is the configured source name.
func (s *Source) Name() string { return s.name }

// Type is "tmall".
func (s *Source) Type() string { return Type }

// Channel is the channel of the events this source produces.
func (s *Source) Channel() string { return s.channel }

// Verify authenticates r by its query parameters (r.Query) and raw body;
// see VerifyQuery.
func (s *Source) Verify(r *platforms.Request) error {
	if r == nil {
		return s.VerifyQuery(nil, nil)
	}
	return s.VerifyQuery(r.Query, r.Body)
}

// VerifyQuery authenticates a request by its query parameters q and raw
// body. Every error wraps platforms.ErrUnauthorized, and also one of
// ErrMissingParam, ErrWrongAppKey, ErrStale or ErrBadSignature.
func (s *Source) VerifyQuery(q url.Values, body []byte) error {
	params, err := top.Params(q)
	if err != nil {
		return fmt.Errorf("%w: %w: %w", platforms.ErrUnauthorized, ErrBadSignature, err)
	}
	for _, p := range [...]string{top.ParamAppKey, top.ParamTimestamp, top.ParamSignMethod, top.ParamSign} {
		if params[p] == "" {
			return fmt.Errorf("%w: %w %s", platforms.ErrUnauthorized, ErrMissingParam, p)
		}
	}
	if subtle.ConstantTimeCompare([]byte(params[top.ParamAppKey]), []byte(s.appKey)) != 1 {
		return fmt.Errorf("%w: %w", platforms.ErrUnauthorized, ErrWrongAppKey)
	}
	ts, err := top.ParseTime(params[top.ParamTimestamp])
	if err != nil {
		return fmt.Errorf("%w: %w: %w", platforms.ErrUnauthorized, ErrStale, err)
	}
	if skew := s.now().Sub(ts).Abs(); skew > s.tolerance {
		return fmt.Errorf("%w: %w", platforms.ErrUnauthorized, ErrStale)
	}
	if err := top.Verify(params, body, s.secret, params[top.ParamSignMethod], params[top.ParamSign]); err != nil {
		if errors.Is(err, top.ErrBadSignature) {
			return fmt.Errorf("%w: %w", platforms.ErrUnauthorized, ErrBadSignature)
		}
		return fmt.Errorf("%w: %w: %w", platforms.ErrUnauthorized, ErrBadSignature, err)
	}
	return nil
}

// SignQuery returns the query parameters a relay sends with body: app_key,
// timestamp (at, as GMT+8), sign_method and sign, per the TOP rule with the
// body appended. method is top.MethodMD5, top.MethodHMAC or
// top.MethodHMACSHA256.
func SignQuery(appKey, appSecret, method string, at time.Time, body []byte) (url.Values, error) {
	params := map[string]string{
		top.ParamAppKey:     appKey,
		top.ParamTimestamp:  top.FormatTime(at),
		top.ParamSignMethod: method,
	}
	sign, err := top.Sign(params, body, appSecret, method)
	if err != nil {
		return nil, fmt.Errorf("tmall: %w", err)
	}
	q := url.Values{}
	for k, v := range params {
		q.Set(k, v)
	}
	q.Set(top.ParamSign, sign)
	return q, nil
}

// NewRequest builds a signed relay request for msgs: the body (one message
// as an object, several as an array) and the query parameters.
func NewRequest(appKey, appSecret, method string, at time.Time, msgs ...Message) ([]byte, url.Values, error) {
	var (
		body []byte
		err  error
	)
	if len(msgs) == 1 {
		body, err = EncodeMessage(msgs[0])
	} else {
		body, err = EncodeBatch(msgs)
	}
	if err != nil {
		return nil, nil, err
	}
	q, err := SignQuery(appKey, appSecret, method, at, body)
	if err != nil {
		return nil, nil, err
	}
	return body, q, nil
}

// DeliveryID reads the message id of a single-message body, before
// verification, for auditing refused deliveries too. A batch, or a body
// without a readable id, has none ("").
func (s *Source) DeliveryID(r *platforms.Request) string {
	if r == nil {
		return ""
	}
	return deliveryID(r.Body)
}

func deliveryID(body []byte) string {
	if !wire.IsKind(bytes.TrimLeft(body, " \t\r\n"), '{') {
		return ""
	}
	var w struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(body, &w) != nil {
		return ""
	}
	id, err := wire.ID(w.ID)
	if err != nil {
		return ""
	}
	return id
}

// Answer is the relay's answer body.
type Answer struct {
	Success bool   `json:"success"`
	Message string `json:"message,omitempty"`
}

// maxMessage bounds the message echoed in a failure answer.
const maxMessage = 512

// Respond writes HTTP 200 {"success":true} on success, so that the relay
// confirms the messages to TMC. Otherwise it writes o.Status (400 malformed,
// 401 unauthorized, 413 too large, 503 not stored) with
// {"success":false,"message":"…"}; the relay then leaves the messages
// unconfirmed and TMC redelivers them. 5xx messages are generic so that no
// internal detail leaks.
func (s *Source) Respond(w http.ResponseWriter, o platforms.Outcome) {
	status := o.Status
	if status == 0 {
		status = platforms.StatusOf(o.Err)
	}
	var a Answer
	switch {
	case status >= 200 && status < 300:
		status, a = http.StatusOK, Answer{Success: true}
	case status >= 500:
		a = Answer{Message: "not stored; retry later"}
	case o.Err != nil:
		a = Answer{Message: wire.Truncate(o.Err.Error(), maxMessage)}
	default:
		a = Answer{Message: strings.ToLower(http.StatusText(status))}
		if a.Message == "" {
			a.Message = "refused"
		}
	}
	b, err := json.Marshal(a)
	if err != nil { // cannot happen: a bool and a string
		b, status = []byte(`{"success":false,"message":"internal error"}`), http.StatusServiceUnavailable
	}
	platforms.WriteJSON(w, status, b)
}
