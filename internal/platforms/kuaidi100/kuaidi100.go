// Package kuaidi100 is the Kuaidi100 (快递100) subscription push ingest
// source type ("kuaidi100"): courier tracking updates for the parcels
// Tower subscribed to.
//
// Kuaidi100 POSTs application/x-www-form-urlencoded fields param (a JSON
// string: the parcel's whole track) and sign:
//
//	sign = UPPER_HEX(MD5(param + salt))
//
// over the URL-decoded param, where salt is the value given when
// subscribing. A push carries only the tracking number (lastResult.nu), so
// its event names no order: it is matched to the order an earlier event
// gave that tracking number. See Parse for the state mapping.
//
// Pushes carry no timestamp, so a replayed push cannot be told from a
// retry; repeats are recognised by event id (nu, data[0].time, state).
package kuaidi100

import (
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/towerhq/tower/internal/platforms"
	"github.com/towerhq/tower/internal/platforms/wire"
)

// Type is the source type name used in configuration.
const Type = "kuaidi100"

// Form field names.
const (
	FieldParam = "param"
	FieldSign  = "sign"
)

// TimeLayout is the layout of track times, in China Standard Time (GMT+8).
const TimeLayout = "2006-01-02 15:04:05"

// cst is GMT+8, fixed so that no tzdata is needed.
var cst = time.FixedZone("CST", 8*60*60)

var (
	// ErrMissingField is wrapped (with platforms.ErrUnauthorized) when the
	// form lacks param or sign, repeats one, or is not a form at all.
	ErrMissingField = errors.New("missing form field")
	// ErrBadSignature is wrapped (with platforms.ErrUnauthorized) when
	// sign is not MD5(param + salt).
	ErrBadSignature = errors.New("bad signature")
)

// Config configures one kuaidi100 source; the fields mirror the
// api-contract keys name and salt.
type Config struct {
	// Name is the source's configured name; it becomes Event.Source.
	Name string
	// Salt is the salt given when subscribing; it signs the pushes.
	Salt string
}

// Source is a configured kuaidi100 source. It is safe for concurrent use.
type Source struct {
	name string
	salt string
	now  func() time.Time
}

var _ platforms.Source = (*Source)(nil)

// New checks cfg and returns the source. now must not be nil (the push
// has no timestamp to judge, but the clock is kept for symmetry with the
// other types). Errors never contain the salt.
func New(cfg Config, now func() time.Time) (*Source, error) {
	if now == nil {
		return nil, errors.New("kuaidi100: nil clock")
	}
	if cfg.Salt == "" {
		// Kuaidi100 would sign with an empty salt too, but then anyone
		// could sign: refuse.
		return nil, fmt.Errorf("kuaidi100 source %q: salt: required", cfg.Name)
	}
	return &Source{name: cfg.Name, salt: cfg.Salt, now: now}, nil
}

// Name is the configured source name.
func (s *Source) Name() string { return s.name }

// Type is "kuaidi100".
func (s *Source) Type() string { return Type }

// form reads the fields of a form body; a repeated param or sign is
// refused, as it would make what was signed ambiguous.
func form(body []byte) (param string, sign string, err error) {
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return "", "", fmt.Errorf("%w: body: not a URL-encoded form", ErrMissingField)
	}
	for _, f := range [...]string{FieldParam, FieldSign} {
		switch n := len(v[f]); {
		case n > 1:
			return "", "", fmt.Errorf("%w %s: repeated", ErrMissingField, f)
		case n == 0 || v[f][0] == "":
			return "", "", fmt.Errorf("%w %s", ErrMissingField, f)
		}
	}
	return v.Get(FieldParam), v.Get(FieldSign), nil
}

// Verify authenticates r: its form's sign must be MD5(param + salt), as
// hex of either case, compared in constant time. Every error wraps
// platforms.ErrUnauthorized and also ErrMissingField or ErrBadSignature.
func (s *Source) Verify(r *platforms.Request) error {
	var body []byte
	if r != nil {
		body = r.Body
	}
	param, sign, err := form(body)
	if err != nil {
		return fmt.Errorf("%w: %w", platforms.ErrUnauthorized, err)
	}
	got := []byte(strings.ToUpper(sign))
	want := []byte(Sign(param, s.salt))
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return fmt.Errorf("%w: %w", platforms.ErrUnauthorized, ErrBadSignature)
	}
	return nil
}

// Sign returns the sign of a push: uppercase hex of MD5(param + salt),
// param being the URL-decoded JSON string.
func Sign(param, salt string) string {
	h := md5.New()
	h.Write([]byte(param))
	h.Write([]byte(salt))
	return strings.ToUpper(hex.EncodeToString(h.Sum(nil)))
}

// FormBody returns the URL-encoded form body of a push of param signed
// with salt: "param=…&sign=…".
func FormBody(param, salt string) []byte {
	return []byte(url.Values{FieldParam: {param}, FieldSign: {Sign(param, salt)}}.Encode())
}

// NewRequest returns a signed push as Verify and Parse receive it, with
// the form Content-Type and ReceivedAt receivedAt.
func NewRequest(param, salt string, receivedAt time.Time) *platforms.Request {
	h := http.Header{}
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	return &platforms.Request{Header: h, Body: FormBody(param, salt), ReceivedAt: receivedAt}
}

// Answer return codes.
const (
	ReturnCodeSuccess = "200"
	ReturnCodeFailure = "500"
)

// maxMessage bounds the message echoed in a failure answer.
const maxMessage = 512

// Answer is the body Kuaidi100 expects in return for a push.
type Answer struct {
	Result     bool   `json:"result"`
	ReturnCode string `json:"returnCode"`
	Message    string `json:"message"`
}

// Respond writes o as Kuaidi100 expects: {"result":true,"returnCode":"200",
// "message":"成功"} with HTTP 200 on success; otherwise
// {"result":false,"returnCode":"500","message":…}. A failure that retrying
// cannot mend (bad sign, malformed, too large) is answered HTTP 200 in that
// fixed failure form; "not stored" (5xx) is answered HTTP 503 with a
// generic message, so that the push is retried. [U] Kuaidi100 retries
// failed pushes after about 30 minutes, at most 3 times.
func (s *Source) Respond(w http.ResponseWriter, o platforms.Outcome) {
	status, a := answer(o)
	b, _ := json.Marshal(a) // plain fields: cannot fail
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

func answer(o platforms.Outcome) (int, Answer) {
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
	switch {
	case status >= 200 && status < 300:
		return http.StatusOK, Answer{Result: true, ReturnCode: ReturnCodeSuccess, Message: "成功"}
	case status >= 500:
		// The cause (a database error, say) may name hosts or users.
		return http.StatusServiceUnavailable, Answer{ReturnCode: ReturnCodeFailure, Message: "not stored; retry later"}
	}
	msg := strings.ToLower(http.StatusText(status))
	if o.Err != nil {
		msg = wire.Truncate(o.Err.Error(), maxMessage)
	} else if msg == "" {
		msg = "refused"
	}
	return http.StatusOK, Answer{ReturnCode: ReturnCodeFailure, Message: msg}
}
