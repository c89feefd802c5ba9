// Package standard is the Standard Webhooks ingest source type ("standard").
//
// A request carries the headers webhook-id, webhook-timestamp (unix seconds)
// and webhook-signature: space-separated "v1,<base64>" entries, each an
// HMAC-SHA256 over "{webhook-id}.{webhook-timestamp}.{raw body}" keyed with
// the base64-decoded part of a "whsec_…" secret. Any v1 entry matching any
// configured secret is enough, which allows secrets to be rotated.
//
// The body is one canonical order event or {"events": [...]} with up to
// MaxEvents events; see Parse.
package standard

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms"
	"github.com/towerhq/tower/internal/platforms/wire"
)

// Type is the source type name used in configuration.
const Type = "standard"

// Header names, as Standard Webhooks spells them.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Defaults applied by New for zero Config fields.
const (
	DefaultTolerance = 5 * time.Minute
	DefaultMaxEvents = 1000
)

// SecretPrefix starts every Standard Webhooks signing secret.
const SecretPrefix = "whsec_"

// minKeyLen is the shortest decoded secret New accepts.
const minKeyLen = 16

var (
	// ErrMissingHeader is wrapped (with platforms.ErrUnauthorized) when a
	// required webhook-* header is absent or empty.
	ErrMissingHeader = errors.New("missing header")
	// ErrStale is wrapped (with platforms.ErrUnauthorized) when the
	// webhook-timestamp is further than the tolerance from now, either way.
	ErrStale = errors.New("timestamp outside tolerance")
	// ErrBadSignature is wrapped (with platforms.ErrUnauthorized) when the
	// webhook-signature header is malformed or no v1 entry matches a secret.
	ErrBadSignature = errors.New("bad signature")
)

// Config configures one standard source.
type Config struct {
	// Name is the source's configured name; it becomes Event.Source.
	Name string
	// Channel is the optional channel override a source may set. The
	// standard type reads the channel from each event, so it is unused.
	Channel string
	// Secrets are "whsec_<base64>" signing secrets; any may match.
	Secrets []string
	// Tolerance is how far webhook-timestamp may be from now, either way.
	// Zero means DefaultTolerance.
	Tolerance time.Duration
	// MaxEvents is the most events one batch may carry. Zero means
	// DefaultMaxEvents.
	MaxEvents int
}

// Source is a configured standard source. It is safe for concurrent use.
type Source struct {
	name      string
	keys      [][]byte
	tolerance time.Duration
	maxEvents int
	now       func() time.Time
}

var _ platforms.Source = (*Source)(nil)

// New checks cfg and returns the source. now is the clock Verify judges
// timestamps by (time.Now in production); it must not be nil.
func New(cfg Config, now func() time.Time) (*Source, error) {
	if now == nil {
		return nil, errors.New("standard: nil clock")
	}
	if len(cfg.Secrets) == 0 {
		return nil, fmt.Errorf("standard source %q: secrets: at least one required", cfg.Name)
	}
	keys := make([][]byte, 0, len(cfg.Secrets))
	for i, s := range cfg.Secrets {
		k, err := decodeSecret(s)
		if err != nil {
			return nil, fmt.Errorf("standard source %q: secrets[%d]: %w", cfg.Name, i, err)
		}
		keys = append(keys, k)
	}
	tol := cfg.Tolerance
	switch {
	case tol < 0:
		return nil, fmt.Errorf("standard source %q: tolerance: negative", cfg.Name)
	case tol == 0:
		tol = DefaultTolerance
	}
	maxEvents := cfg.MaxEvents
	switch {
	case maxEvents < 0:
		return nil, fmt.Errorf("standard source %q: max events: negative", cfg.Name)
	case maxEvents == 0:
		maxEvents = DefaultMaxEvents
	}
	return &Source{name: cfg.Name, keys: keys, tolerance: tol, maxEvents: maxEvents, now: now}, nil
}

// decodeSecret returns the HMAC key of a "whsec_" secret. Its errors never
// contain the secret.
func decodeSecret(s string) ([]byte, error) {
	b64, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return nil, errors.New(`want "whsec_" followed by standard base64`)
	}
	k, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, errors.New(`the part after "whsec_" is not valid standard base64`)
	}
	if len(k) < minKeyLen {
		return nil, fmt.Errorf("key is %d bytes, want at least %d", len(k), minKeyLen)
	}
	return k, nil
}

// Name is the configured source name.
func (s *Source) Name() string { return s.name }

// Type is "standard".
func (s *Source) Type() string { return Type }

// Verify authenticates r by its webhook-* headers. Every error wraps
// platforms.ErrUnauthorized, and also ErrMissingHeader, ErrStale or
// ErrBadSignature.
func (s *Source) Verify(r *platforms.Request) error {
	var h http.Header
	if r != nil {
		h = r.Header
	}
	id, tsHeader, sigHeader := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	for _, m := range [...]struct{ name, v string }{{HeaderID, id}, {HeaderTimestamp, tsHeader}, {HeaderSignature, sigHeader}} {
		if m.v == "" {
			return fmt.Errorf("%w: %w %s", platforms.ErrUnauthorized, ErrMissingHeader, m.name)
		}
	}
	ts, err := strconv.ParseInt(tsHeader, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %s: not an integer", platforms.ErrUnauthorized, HeaderTimestamp)
	}
	if skew := s.now().Sub(time.Unix(ts, 0)).Abs(); skew > s.tolerance {
		return fmt.Errorf("%w: %w", platforms.ErrUnauthorized, ErrStale)
	}
	sigs, err := ParseSignatureHeader(sigHeader)
	if err != nil {
		return fmt.Errorf("%w: %w: %w", platforms.ErrUnauthorized, ErrBadSignature, err)
	}
	var body []byte
	if r != nil {
		body = r.Body
	}
	ok := false
	for _, k := range s.keys {
		mac := computeMAC(k, id, ts, body)
		for _, sig := range sigs {
			// No early exit: the time taken does not depend on which
			// key or entry matched.
			if hmac.Equal(mac, sig) {
				ok = true
			}
		}
	}
	if !ok {
		return fmt.Errorf("%w: %w", platforms.ErrUnauthorized, ErrBadSignature)
	}
	return nil
}

func computeMAC(key []byte, id string, ts int64, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write(strconv.AppendInt(nil, ts, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// ParseSignatureHeader returns the decoded signatures of the v1 entries of a
// webhook-signature header ("v1,<base64> v1,<base64> ..."). Entries of other
// versions (such as v1a) are ignored. It fails when a v1 entry is not
// standard base64 of a 32-byte HMAC-SHA256, or when no v1 entry is present.
func ParseSignatureHeader(h string) ([][]byte, error) {
	var sigs [][]byte
	for i, entry := range strings.Fields(h) {
		version, b64, ok := strings.Cut(entry, ",")
		if !ok || version != "v1" {
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, fmt.Errorf("entry %d: v1 signature is not valid standard base64", i)
		}
		if len(sig) != sha256.Size {
			return nil, fmt.Errorf("entry %d: v1 signature is %d bytes, want %d", i, len(sig), sha256.Size)
		}
		sigs = append(sigs, sig)
	}
	if len(sigs) == 0 {
		return nil, errors.New(`no "v1,<base64>" entry`)
	}
	return sigs, nil
}

// Sign returns the webhook-signature header value ("v1,<base64>") for a
// delivery with id, unix timestamp ts and raw body, signed with a "whsec_"
// secret.
func Sign(secret string, id string, ts int64, body []byte) (string, error) {
	k, err := decodeSecret(secret)
	if err != nil {
		return "", fmt.Errorf("standard: secret: %w", err)
	}
	return "v1," + base64.StdEncoding.EncodeToString(computeMAC(k, id, ts, body)), nil
}

// Error codes in error answers.
const (
	CodeBadSignature = "BAD_SIGNATURE"
	CodeMalformed    = "MALFORMED"
	CodeTooLarge     = "TOO_LARGE"
	CodeUnavailable  = "UNAVAILABLE"
)

// maxMessage bounds the message echoed in an error answer.
const maxMessage = 512

// Success is the JSON answer to an accepted (or duplicate) delivery.
type Success struct {
	Accepted   int `json:"accepted"`
	Duplicates int `json:"duplicates"`
}

// ErrorBody is the JSON answer to a refused delivery.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says why a delivery was refused.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Field is the offending input field, e.g. "events[3].type", when one
	// field is at fault.
	Field string `json:"field,omitempty"`
}

// Respond writes o as JSON: 200 {"accepted":N,"duplicates":M} on success,
// otherwise o.Status with {"error":{"code","message","field"}}. Messages
// of 5xx answers are generic so that no internal detail leaks.
func (s *Source) Respond(w http.ResponseWriter, o platforms.Outcome) {
	status := o.Status
	if status == 0 {
		status = platforms.StatusOf(o.Err)
	}
	var body any
	if status >= 200 && status < 300 {
		status = http.StatusOK
		body = Success{Accepted: o.Accepted, Duplicates: o.Duplicates}
	} else {
		body = ErrorBody{Error: errorDetail(status, o.Err)}
	}
	b, err := json.Marshal(body)
	if err != nil { // cannot happen: plain strings and ints
		b = []byte(`{"error":{"code":"UNAVAILABLE","message":"internal error"}}`)
		status = http.StatusServiceUnavailable
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json; charset=utf-8")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func errorDetail(status int, err error) ErrorDetail {
	var d ErrorDetail
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		d.Code = CodeBadSignature
	case status == http.StatusRequestEntityTooLarge:
		d.Code = CodeTooLarge
	case status >= 400 && status < 500:
		d.Code = CodeMalformed
	default:
		d.Code = CodeUnavailable
	}
	switch {
	case d.Code == CodeUnavailable:
		// The cause (a database error, say) may name hosts or users.
		d.Message = "not stored; retry later"
	case err != nil:
		d.Message = wire.Truncate(err.Error(), maxMessage)
	default:
		d.Message = strings.ToLower(http.StatusText(status))
		if d.Message == "" {
			d.Message = "refused"
		}
	}
	var fe *order.FieldError
	if d.Code != CodeUnavailable && errors.As(err, &fe) {
		d.Field = fe.Field
	}
	return d
}

// DeliveryID reads webhook-id, for auditing refused deliveries too.
func (s *Source) DeliveryID(r *platforms.Request) string {
	return r.Header.Get(HeaderID)
}
