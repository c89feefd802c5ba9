// Package douyin is the Douyin Shop (抖店) message-push ingest source type
// ("douyin").
//
// Douyin POSTs a JSON array of messages {"tag","msg_id","data"} where data
// is itself a JSON object encoded as a string. The request carries the
// headers app-id (our app key) and event-sign, the lowercase hex
// MD5(app_key + raw body + app_secret). Douyin reads the answer's code:
// {"code":0,"msg":"success"} accepts the push, any other code fails it and
// the push is retried.
//
// Douyin has no delivery id: deliveries are deduplicated per message, the
// msg_id becoming the event id. See Parse for the tag mapping.
package douyin

import (
	"bytes"
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms"
	"github.com/towerhq/tower/internal/platforms/wire"
)

// Type is the source type name used in configuration.
const Type = "douyin"

// Header names, as Douyin spells them.
const (
	HeaderAppID      = "app-id"
	HeaderEventSign  = "event-sign"
	HeaderSignMethod = "sign-method"
)

var (
	// ErrMissingHeader is wrapped (with platforms.ErrUnauthorized) when
	// app-id or event-sign is absent or empty.
	ErrMissingHeader = errors.New("missing header")
	// ErrWrongAppKey is wrapped (with platforms.ErrUnauthorized) when the
	// app-id header is not the configured app key.
	ErrWrongAppKey = errors.New("app-id is not this source's app key")
	// ErrUnsupportedSignMethod is wrapped (with platforms.ErrUnauthorized)
	// when sign-method names anything but md5.
	ErrUnsupportedSignMethod = errors.New("unsupported sign-method")
	// ErrBadSignature is wrapped (with platforms.ErrUnauthorized) when
	// event-sign does not match.
	ErrBadSignature = errors.New("bad signature")
)

// Config configures one douyin source.
type Config struct {
	// Name is the source's configured name; it becomes Event.Source.
	Name string
	// Channel overrides the channel of produced events; "" means "douyin".
	Channel string
	// AppKey is the Douyin Shop app key; pushes must carry it as app-id.
	AppKey string
	// AppSecret is the app secret that signs pushes.
	AppSecret string
}

// Source is a configured douyin source. It is safe for concurrent use.
type Source struct {
	name    string
	channel string
	appKey  string
	secret  string
	now     func() time.Time
}

var _ platforms.Source = (*Source)(nil)

// New checks cfg and returns the source. now is the clock used when a
// message carries no time and the request no receive time (time.Now in
// production); it must not be nil. Errors never contain the secret.
func New(cfg Config, now func() time.Time) (*Source, error) {
	if now == nil {
		return nil, errors.New("douyin: nil clock")
	}
	if cfg.AppKey == "" {
		return nil, fmt.Errorf("douyin source %q: app_key: required", cfg.Name)
	}
	if strings.TrimSpace(cfg.AppKey) != cfg.AppKey {
		return nil, fmt.Errorf("douyin source %q: app_key: leading or trailing space", cfg.Name)
	}
	if cfg.AppSecret == "" {
		return nil, fmt.Errorf("douyin source %q: app_secret: required", cfg.Name)
	}
	if strings.TrimSpace(cfg.AppSecret) != cfg.AppSecret {
		return nil, fmt.Errorf("douyin source %q: app_secret: leading or trailing space", cfg.Name)
	}
	ch := cfg.Channel
	if ch == "" {
		ch = order.ChannelDouyin
	}
	if len(ch) > 32 {
		return nil, fmt.Errorf("douyin source %q: channel: longer than 32 characters", cfg.Name)
	}
	return &Source{name: cfg.Name, channel: ch, appKey: cfg.AppKey, secret: cfg.AppSecret, now: now}, nil
}

// Name is the configured source name.
func (s *Source) Name() string { return s.name }

// Type is "douyin".
func (s *Source) Type() string { return Type }

// Channel is the channel of the events this source produces.
func (s *Source) Channel() string { return s.channel }

// Verify authenticates r by its app-id, sign-method and event-sign headers.
// Every error wraps platforms.ErrUnauthorized, and also one of
// ErrMissingHeader, ErrWrongAppKey, ErrUnsupportedSignMethod or
// ErrBadSignature.
func (s *Source) Verify(r *platforms.Request) error {
	var (
		h    http.Header
		body []byte
	)
	if r != nil {
		h, body = r.Header, r.Body
	}
	appID, sign := h.Get(HeaderAppID), h.Get(HeaderEventSign)
	if appID == "" {
		return fmt.Errorf("%w: %w %s", platforms.ErrUnauthorized, ErrMissingHeader, HeaderAppID)
	}
	if sign == "" {
		return fmt.Errorf("%w: %w %s", platforms.ErrUnauthorized, ErrMissingHeader, HeaderEventSign)
	}
	if subtle.ConstantTimeCompare([]byte(appID), []byte(s.appKey)) != 1 {
		return fmt.Errorf("%w: %w", platforms.ErrUnauthorized, ErrWrongAppKey)
	}
	// [U] sign-method is said to appear in newer pushes; no SDK we read
	// checks it and no source shows any form but md5. Stay strict: absent
	// or md5 only, anything else is refused rather than guessed at.
	if m := h.Get(HeaderSignMethod); m != "" && !strings.EqualFold(m, "md5") {
		return fmt.Errorf("%w: %w %q", platforms.ErrUnauthorized, ErrUnsupportedSignMethod, wire.Truncate(m, 32))
	}
	want := sum(s.appKey, s.secret, body)
	got := []byte(strings.ToLower(sign))
	if subtle.ConstantTimeCompare(want, got) != 1 {
		return fmt.Errorf("%w: %w", platforms.ErrUnauthorized, ErrBadSignature)
	}
	return nil
}

// sum is the lowercase hex MD5(appKey + body + secret).
func sum(appKey, secret string, body []byte) []byte {
	m := md5.New()
	m.Write([]byte(appKey))
	m.Write(body)
	m.Write([]byte(secret))
	out := make([]byte, hex.EncodedLen(md5.Size))
	hex.Encode(out, m.Sum(nil))
	return out
}

// Sign returns the event-sign header value for a push of the raw body:
// lowercase hex MD5(appKey + body + appSecret).
func Sign(appKey, appSecret string, body []byte) string {
	return string(sum(appKey, appSecret, body))
}

// Message is one item of a push as a sender builds it. Data is the data
// object; on the wire it is sent as a JSON string.
type Message struct {
	Tag   string
	MsgID string
	Data  json.RawMessage
}

type wireOut struct {
	Tag   string `json:"tag"`
	MsgID string `json:"msg_id"`
	Data  string `json:"data"`
}

// EncodeBody writes msgs as a push body: a JSON array of
// {"tag","msg_id","data"} with each Data object embedded as a string,
// byte for byte as given.
func EncodeBody(msgs []Message) ([]byte, error) {
	out := make([]wireOut, len(msgs))
	for i, m := range msgs {
		if !json.Valid(m.Data) || !bytes.HasPrefix(bytes.TrimLeft(m.Data, " \t\r\n"), []byte("{")) {
			return nil, fmt.Errorf("douyin: message %d: data is not a JSON object", i)
		}
		out[i] = wireOut{Tag: m.Tag, MsgID: m.MsgID, Data: string(m.Data)}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return nil, fmt.Errorf("douyin: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// NewRequest builds a signed push of msgs: the body and the headers
// (Content-Type, app-id, event-sign, sign-method: md5) Douyin would send.
func NewRequest(appKey, appSecret string, msgs ...Message) ([]byte, http.Header, error) {
	body, err := EncodeBody(msgs)
	if err != nil {
		return nil, nil, err
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(HeaderAppID, appKey)
	h.Set(HeaderEventSign, Sign(appKey, appSecret, body))
	h.Set(HeaderSignMethod, "md5")
	return body, h, nil
}

// Answer is Douyin's answer body: code 0 accepts the push.
type Answer struct {
	Code int    `json:"code"`
	Msg  string `json:"msg"`
}

// maxMessage bounds the message echoed in a failure answer.
const maxMessage = 512

// Respond writes Douyin's answer. Success (2xx): HTTP 200
// {"code":0,"msg":"success"}. A refused push (bad signature, malformed,
// too large: 4xx): HTTP 200 {"code":1,"msg":"<reason>"}, since Douyin reads
// the code. Not stored (5xx): HTTP 503 {"code":1,"msg":"not stored; retry
// later"}, so that it is retried whichever of the two Douyin looks at; the
// cause is not echoed.
func (s *Source) Respond(w http.ResponseWriter, o platforms.Outcome) {
	status := o.Status
	if status == 0 {
		status = platforms.StatusOf(o.Err)
	}
	a := Answer{Code: 0, Msg: "success"}
	switch {
	case status >= 200 && status < 300:
		status = http.StatusOK
	case status >= 500:
		status = http.StatusServiceUnavailable
		a = Answer{Code: 1, Msg: "not stored; retry later"}
	default:
		a = Answer{Code: 1, Msg: strings.ToLower(http.StatusText(status))}
		if o.Err != nil {
			a.Msg = wire.Truncate(o.Err.Error(), maxMessage)
		}
		if a.Msg == "" {
			a.Msg = "fail"
		}
		status = http.StatusOK
	}
	b, err := json.Marshal(a)
	if err != nil { // cannot happen: a string and an int
		b, status = []byte(`{"code":1,"msg":"fail"}`), http.StatusServiceUnavailable
	}
	platforms.WriteJSON(w, status, b)
}
