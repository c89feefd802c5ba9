// Package qimen is the Qimen (奇门) ERP↔WMS ingest source type ("qimen"):
// the WMS reports in-warehouse progress and shipments to Tower, which
// plays the ERP.
//
// The WMS (through the Qimen gateway) POSTs to the source's endpoint with
// the system parameters in the URL query:
//
//	?method=taobao.qimen.deliveryorder.confirm&app_key=…&customerId=…&format=xml
//	 &sign_method=md5&timestamp=2026-11-24 20:00:00&v=2.0&sign=…
//
// and the business message as the raw body: XML with root <request>, or
// JSON with the same names when format=json. The sign is the Taobao Open
// Platform (TOP) md5 rule with the raw body appended:
//
//	UPPER_HEX(MD5(secret + k1v1k2v2… (query params but sign, sorted by key) + raw body + secret))
//
// Methods understood (with or without the "taobao.qimen." prefix):
// deliveryorder.confirm, deliveryorder.batchconfirm and
// orderprocess.report; see Parse for the mapping.
//
// The query travels in platforms.Request.Query.
package qimen

import (
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/towerhq/tower/internal/platforms"
	"github.com/towerhq/tower/internal/platforms/wire"
)

// Type is the source type name used in configuration.
const Type = "qimen"

// MethodPrefix starts the full Qimen method names; it is optional on input.
const MethodPrefix = "taobao.qimen."

// Methods understood by Parse, without MethodPrefix.
const (
	MethodDeliveryOrderConfirm      = "deliveryorder.confirm"
	MethodDeliveryOrderBatchConfirm = "deliveryorder.batchconfirm"
	MethodOrderProcessReport        = "orderprocess.report"
)

// Query parameter names (TOP system parameters).
const (
	ParamMethod     = "method"
	ParamAppKey     = "app_key"
	ParamCustomerID = "customerId"
	ParamFormat     = "format"
	ParamSignMethod = "sign_method"
	ParamTimestamp  = "timestamp"
	ParamVersion    = "v"
	ParamSign       = "sign"
)

// Body formats (the format query parameter). Absent means FormatXML, the
// TOP default.
const (
	FormatXML  = "xml"
	FormatJSON = "json"
)

// SignMethodMD5 is the only sign_method accepted.
const SignMethodMD5 = "md5"

// TimestampLayout is the layout of the timestamp parameter and of the
// times in messages, always in China Standard Time (GMT+8).
const TimestampLayout = "2006-01-02 15:04:05"

// Tolerance is how far the timestamp parameter may be from now, either
// way. [U] The reference gives "about 10 minutes" for the TOP gateway;
// we refuse beyond it.
const Tolerance = 10 * time.Minute

// cst is GMT+8, fixed so that no tzdata is needed.
var cst = time.FixedZone("CST", 8*60*60)

var (
	// ErrMissingParam is wrapped (with platforms.ErrUnauthorized) when a
	// required query parameter is absent, empty or repeated.
	ErrMissingParam = errors.New("missing query parameter")
	// ErrWrongAppKey is wrapped (with platforms.ErrUnauthorized) when
	// app_key is not the configured one.
	ErrWrongAppKey = errors.New("app_key does not match")
	// ErrUnknownCustomer is wrapped (with platforms.ErrUnauthorized)
	// when customerId is not the configured one.
	ErrUnknownCustomer = errors.New("unknown customerId")
	// ErrStale is wrapped (with platforms.ErrUnauthorized) when the
	// timestamp is further than Tolerance from now, either way.
	ErrStale = errors.New("timestamp outside tolerance")
	// ErrBadSignature is wrapped (with platforms.ErrUnauthorized) when
	// the sign does not match, or sign_method is not md5.
	ErrBadSignature = errors.New("bad signature")
)

// Config configures one qimen source; the fields mirror the api-contract
// keys name, channel, app_key, app_secret and customer_id.
type Config struct {
	// Name is the source's configured name; it becomes Event.Source.
	Name string
	// Channel, when set, becomes Order.Channel of every event. Qimen
	// carries the ERP order code (deliveryOrderCode), equal to the
	// channel's order number, but not the channel, so by default events
	// find their order by number alone.
	Channel string
	// AppKey is the app_key the WMS calls with; others are refused.
	AppKey string
	// AppSecret signs the requests.
	AppSecret string
	// CustomerID is the customerId (货主/customer code) the WMS calls
	// with; others are refused.
	CustomerID string
}

// Source is a configured qimen source. It is safe for concurrent use.
type Source struct {
	name       string
	channel    string
	appKey     string
	secret     string
	customerID string
	now        func() time.Time
}

var _ platforms.Source = (*Source)(nil)

// New checks cfg and returns the source. now is the clock Verify judges
// timestamps by (time.Now in production); it must not be nil. Errors
// never contain the secret.
func New(cfg Config, now func() time.Time) (*Source, error) {
	if now == nil {
		return nil, errors.New("qimen: nil clock")
	}
	switch {
	case cfg.AppKey == "":
		return nil, fmt.Errorf("qimen source %q: app_key: required", cfg.Name)
	case cfg.AppSecret == "":
		return nil, fmt.Errorf("qimen source %q: app_secret: required", cfg.Name)
	case cfg.CustomerID == "":
		return nil, fmt.Errorf("qimen source %q: customer_id: required", cfg.Name)
	case len(cfg.Channel) > 32:
		return nil, fmt.Errorf("qimen source %q: channel: longer than 32 characters", cfg.Name)
	}
	return &Source{
		name: cfg.Name, channel: cfg.Channel, appKey: cfg.AppKey,
		secret: cfg.AppSecret, customerID: cfg.CustomerID, now: now,
	}, nil
}

// Name is the configured source name.
func (s *Source) Name() string { return s.name }

// Type is "qimen".
func (s *Source) Type() string { return Type }

// Verify authenticates r by its query parameters (r.Query) and raw body;
// see VerifyQuery.
func (s *Source) Verify(r *platforms.Request) error {
	if r == nil {
		return s.VerifyQuery(nil, nil)
	}
	return s.VerifyQuery(r.Query, r.Body)
}

// VerifyQuery authenticates a request with query q and raw body: app_key
// and customerId must be the configured ones, sign_method md5, timestamp
// within Tolerance of now, and sign the TOP md5 sign (compared in constant
// time, case-insensitively). Every error wraps platforms.ErrUnauthorized
// and also ErrMissingParam, ErrWrongAppKey, ErrUnknownCustomer, ErrStale
// or ErrBadSignature.
func (s *Source) VerifyQuery(q url.Values, body []byte) error {
	// A repeated parameter would make the signed string ambiguous.
	for k, vs := range q {
		if len(vs) > 1 {
			return fmt.Errorf("%w: %w %s: repeated", platforms.ErrUnauthorized, ErrMissingParam, strconv.Quote(k))
		}
	}
	for _, p := range [...]string{ParamAppKey, ParamCustomerID, ParamSignMethod, ParamTimestamp, ParamSign} {
		if q.Get(p) == "" {
			return fmt.Errorf("%w: %w %s", platforms.ErrUnauthorized, ErrMissingParam, p)
		}
	}
	// app_key and customerId are not secret; compared in constant time
	// all the same, as cheap as not.
	if subtle.ConstantTimeCompare([]byte(q.Get(ParamAppKey)), []byte(s.appKey)) != 1 {
		return fmt.Errorf("%w: %w", platforms.ErrUnauthorized, ErrWrongAppKey)
	}
	if subtle.ConstantTimeCompare([]byte(q.Get(ParamCustomerID)), []byte(s.customerID)) != 1 {
		return fmt.Errorf("%w: %w", platforms.ErrUnauthorized, ErrUnknownCustomer)
	}
	if m := q.Get(ParamSignMethod); m != SignMethodMD5 {
		return fmt.Errorf("%w: %w: sign_method %s, want md5", platforms.ErrUnauthorized, ErrBadSignature, strconv.Quote(wire.Truncate(m, 32)))
	}
	ts, err := time.ParseInLocation(TimestampLayout, q.Get(ParamTimestamp), cst)
	if err != nil {
		return fmt.Errorf("%w: timestamp: want yyyy-MM-dd HH:mm:ss", platforms.ErrUnauthorized)
	}
	if skew := s.now().Sub(ts).Abs(); skew > Tolerance {
		return fmt.Errorf("%w: %w", platforms.ErrUnauthorized, ErrStale)
	}
	got := []byte(strings.ToUpper(q.Get(ParamSign)))
	want := []byte(signMD5(flatten(q), body, s.secret))
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return fmt.Errorf("%w: %w", platforms.ErrUnauthorized, ErrBadSignature)
	}
	return nil
}

// flatten keeps the first value of each parameter (VerifyQuery refuses
// repeats before).
func flatten(q url.Values) map[string]string {
	m := make(map[string]string, len(q))
	for k, vs := range q {
		if len(vs) > 0 {
			m[k] = vs[0]
		}
	}
	return m
}

// Sign returns the Qimen sign of a request: the TOP md5 rule over params
// (the parameter named "sign" is skipped, as are empty keys and values)
// with the raw body appended, as uppercase hex.
func Sign(params map[string]string, body []byte, secret string) string {
	return signMD5(params, body, secret)
}

// signMD5 is the TOP md5 sign, the only method Qimen uses:
//
//	UPPER_HEX(MD5(secret + k1v1k2v2… (sorted by key, ASCII) + body + secret))
//
// skipping "sign" and empty keys or values, values not URL-encoded.
// connectors/top holds the general TOP rule (md5, hmac, hmac-sha256,
// top.Sign); this copy keeps qimen free of that dependency and is pinned to
// the same vectors in the tests.
func signMD5(params map[string]string, body []byte, secret string) string {
	keys := make([]string, 0, len(params))
	for k, v := range params {
		if k != "" && v != "" && k != ParamSign {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	h := md5.New()
	h.Write([]byte(secret))
	for _, k := range keys {
		h.Write([]byte(k))
		h.Write([]byte(params[k]))
	}
	h.Write(body)
	h.Write([]byte(secret))
	return strings.ToUpper(hex.EncodeToString(h.Sum(nil)))
}

// Answer codes in failure answers (ours: the platform reads only the flag).
const (
	CodeSuccess         = "0"
	CodeBadSignature    = "BAD_SIGNATURE"
	CodeUnknownCustomer = "UNKNOWN_CUSTOMER"
	CodeMalformed       = "MALFORMED"
	CodeTooLarge        = "TOO_LARGE"
	CodeUnavailable     = "UNAVAILABLE"
)

// Answer flags.
const (
	FlagSuccess = "success"
	FlagFailure = "failure"
)

// maxMessage bounds the message echoed in a failure answer.
const maxMessage = 512

// Response is the Qimen answer, <response><flag/><code/><message/></response>.
type Response struct {
	XMLName xml.Name `xml:"response" json:"-"`
	Flag    string   `xml:"flag" json:"flag"`
	Code    string   `xml:"code" json:"code"`
	Message string   `xml:"message" json:"message"`
}

// Respond writes o as the Qimen XML answer:
// <response><flag>success</flag><code>0</code><message>ok</message></response>
// with HTTP 200 on success; otherwise flag failure with a code and message.
// A failure not to be retried (bad sign, unknown customerId, malformed, too
// large) is answered HTTP 200, because the gateway reads the flag; "not
// stored" (5xx) is answered HTTP 503 so that it retries, with a generic
// message.
//
// Respond always answers XML: it is not given the request, so it cannot
// echo format=json, and a per-request choice kept on the Source would race
// between concurrent deliveries. [U] The JSON answer form is itself
// uncertain; use RespondFormat where the request's format is at hand.
func (s *Source) Respond(w http.ResponseWriter, o platforms.Outcome) {
	// Answer in the format the request was made in.
	format := FormatXML
	if o.Request != nil && o.Request.Query.Get("format") == FormatJSON {
		format = FormatJSON
	}
	RespondFormat(w, o, format)
}

// RespondFormat is Respond in the given body format (FormatXML or
// FormatJSON: {"response":{"flag":…,"code":…,"message":…}}).
func RespondFormat(w http.ResponseWriter, o platforms.Outcome, format string) {
	status, resp := answer(o)
	var b []byte
	if format == FormatJSON {
		b, _ = json.Marshal(struct {
			Response Response `json:"response"`
		}{resp}) // plain strings: cannot fail
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
	} else {
		b, _ = xml.Marshal(resp) // plain strings: cannot fail
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

// answer returns the HTTP status and the body fields for o.
func answer(o platforms.Outcome) (int, Response) {
	status := o.Status
	if status == 0 {
		switch {
		case o.Err == nil:
			status = http.StatusOK
		case errors.Is(o.Err, platforms.ErrUnauthorized):
			status = http.StatusUnauthorized
		case errors.Is(o.Err, platforms.ErrMalformed):
			status = http.StatusBadRequest
		default:
			status = http.StatusServiceUnavailable
		}
	}
	if status >= 200 && status < 300 {
		return http.StatusOK, Response{Flag: FlagSuccess, Code: CodeSuccess, Message: "ok"}
	}
	r := Response{Flag: FlagFailure}
	switch {
	case status >= 500:
		// The cause (a database error, say) may name hosts or users.
		r.Code, r.Message = CodeUnavailable, "not stored; retry later"
		return http.StatusServiceUnavailable, r
	case errors.Is(o.Err, ErrUnknownCustomer):
		r.Code = CodeUnknownCustomer
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		r.Code = CodeBadSignature
	case status == http.StatusRequestEntityTooLarge:
		r.Code = CodeTooLarge
	default:
		r.Code = CodeMalformed
	}
	if o.Err != nil {
		r.Message = wire.Truncate(o.Err.Error(), maxMessage)
	} else if r.Message = strings.ToLower(http.StatusText(status)); r.Message == "" {
		r.Message = "refused"
	}
	return http.StatusOK, r
}
