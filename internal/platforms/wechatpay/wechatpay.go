// Package wechatpay is the WeChat Pay API v3 notification ingest source
// type ("wechatpay"): payment and refund results for the brand's
// mini-program (channel "miniprogram" unless the source overrides it).
//
// A notification is a POST of a JSON envelope whose "resource" is
// AES-256-GCM encrypted with the merchant's APIv3 key. The request carries
// the headers Wechatpay-Timestamp (unix seconds), Wechatpay-Nonce,
// Wechatpay-Signature and Wechatpay-Serial; the signature is
// RSASSA-PKCS1-v1_5 with SHA-256 by the WeChat Pay platform key named by
// the serial, over
//
//	timestamp + "\n" + nonce + "\n" + raw body + "\n"
//
// WeChat Pay counts any 2xx answer as received and retries every other
// answer for about 24 hours.
package wechatpay

import (
	"crypto"
	"crypto/cipher"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms"
	"github.com/towerhq/tower/internal/platforms/wire"
)

// Type is the source type name used in configuration.
const Type = "wechatpay"

// DefaultChannel is the channel of the orders a wechatpay source reports
// on, unless Config.Channel overrides it.
const DefaultChannel = order.ChannelMiniProgram

// Header names, as WeChat Pay spells them.
const (
	HeaderTimestamp     = "Wechatpay-Timestamp"
	HeaderNonce         = "Wechatpay-Nonce"
	HeaderSignature     = "Wechatpay-Signature"
	HeaderSerial        = "Wechatpay-Serial"
	HeaderSignatureType = "Wechatpay-Signature-Type"
	HeaderRequestID     = "Request-ID"
)

// SignatureType is the only Wechatpay-Signature-Type accepted.
const SignatureType = "WECHATPAY2-SHA256-RSA2048"

// Defaults and limits.
const (
	// DefaultTolerance is how far Wechatpay-Timestamp may be from now,
	// either way; a skew of exactly the tolerance is refused, as the
	// official SDK does (|now - ts| >= 300 s).
	DefaultTolerance = 5 * time.Minute
	// APIv3KeyLen is the length of an APIv3 key: 32 ASCII characters,
	// used as the AES-256 key as they are.
	APIv3KeyLen = 32
	// MinKeyBits is the smallest platform public key accepted.
	MinKeyBits = 2048
)

var (
	// ErrMissingHeader is wrapped (with platforms.ErrUnauthorized) when a
	// required Wechatpay-* header is absent or empty.
	ErrMissingHeader = errors.New("missing header")
	// ErrUnknownSerial is wrapped (with platforms.ErrUnauthorized) when
	// Wechatpay-Serial does not name the configured platform public key.
	ErrUnknownSerial = errors.New("unknown Wechatpay-Serial")
	// ErrStale is wrapped (with platforms.ErrUnauthorized) when
	// Wechatpay-Timestamp is the tolerance or more from now, either way.
	ErrStale = errors.New("timestamp outside tolerance")
	// ErrBadSignature is wrapped (with platforms.ErrUnauthorized) when the
	// signature is not base64, is of an unsupported type or does not verify.
	ErrBadSignature = errors.New("bad signature")
)

// Config configures one wechatpay source. The field names mirror the
// configuration keys (mchid, apiv3_key, platform_public_key_file,
// platform_public_key_id, channel).
type Config struct {
	// Name is the source's configured name; it becomes Event.Source.
	Name string
	// Channel overrides DefaultChannel.
	Channel string
	// MchID is the merchant id; decrypted resources for another merchant
	// are refused.
	MchID string
	// APIv3Key is the merchant's APIv3 key: exactly 32 ASCII characters.
	APIv3Key string
	// PlatformPublicKeyPEM is the WeChat Pay platform public key, a PEM
	// "PUBLIC KEY" (PKIX) block holding an RSA key.
	PlatformPublicKeyPEM []byte
	// PlatformPublicKeyFile is read by New when PlatformPublicKeyPEM is
	// empty.
	PlatformPublicKeyFile string
	// PlatformPublicKeyID is the key's id ("PUB_KEY_ID_…"), which
	// notifications carry in Wechatpay-Serial.
	PlatformPublicKeyID string
	// Tolerance is how far Wechatpay-Timestamp may be from now. Zero means
	// DefaultTolerance.
	Tolerance time.Duration
}

// Source is a configured wechatpay source. It is safe for concurrent use.
type Source struct {
	name      string
	channel   string
	mchID     string
	aead      cipher.AEAD // AES-256-GCM keyed with the APIv3 key's bytes
	pub       *rsa.PublicKey
	serial    string
	tolerance time.Duration
	now       func() time.Time
}

var (
	_ platforms.Source             = (*Source)(nil)
	_ platforms.DeliveryIdentifier = (*Source)(nil)
)

// New checks cfg and returns the source. now is the clock Verify judges
// timestamps by (time.Now in production); it must not be nil. Errors never
// contain the APIv3 key.
func New(cfg Config, now func() time.Time) (*Source, error) {
	if now == nil {
		return nil, errors.New("wechatpay: nil clock")
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("wechatpay source %q: "+format, append([]any{cfg.Name}, args...)...)
	}
	channel := cfg.Channel
	if channel == "" {
		channel = DefaultChannel
	}
	if len(channel) > 32 {
		return nil, fail("channel: longer than 32 characters")
	}
	if cfg.MchID == "" {
		return nil, fail("mchid: required")
	}
	if err := checkAPIv3Key(cfg.APIv3Key); err != nil {
		return nil, fail("apiv3_key: %w", err)
	}
	if cfg.PlatformPublicKeyID == "" {
		return nil, fail("platform_public_key_id: required")
	}
	pemBytes := cfg.PlatformPublicKeyPEM
	if len(pemBytes) == 0 {
		if cfg.PlatformPublicKeyFile == "" {
			return nil, fail("platform_public_key_file: required")
		}
		b, err := os.ReadFile(cfg.PlatformPublicKeyFile)
		if err != nil {
			return nil, fail("platform_public_key_file: %w", err)
		}
		pemBytes = b
	}
	pub, err := ParsePublicKeyPEM(pemBytes)
	if err != nil {
		return nil, fail("platform public key: %w", err)
	}
	aead, err := newGCM([]byte(cfg.APIv3Key))
	if err != nil { // cannot happen: the key is 32 bytes
		return nil, fail("apiv3_key: %w", err)
	}
	tol := cfg.Tolerance
	switch {
	case tol < 0:
		return nil, fail("tolerance: negative")
	case tol == 0:
		tol = DefaultTolerance
	}
	return &Source{
		name: cfg.Name, channel: channel, mchID: cfg.MchID,
		aead: aead, pub: pub, serial: cfg.PlatformPublicKeyID,
		tolerance: tol, now: now,
	}, nil
}

// checkAPIv3Key reports what is wrong with k, without quoting it.
func checkAPIv3Key(k string) error {
	if k == "" {
		return errors.New("required")
	}
	if len(k) != APIv3KeyLen {
		return fmt.Errorf("is %d bytes, want %d ASCII characters", len(k), APIv3KeyLen)
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return fmt.Errorf("byte %d is not a printable ASCII character", i)
		}
	}
	return nil
}

// ParsePublicKeyPEM reads the first PEM "PUBLIC KEY" block (PKIX) of b and
// returns its RSA key, which must have at least MinKeyBits bits.
func ParsePublicKeyPEM(b []byte) (*rsa.PublicKey, error) {
	rest := b
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New(`no PEM "PUBLIC KEY" block`)
		}
		if block.Type != "PUBLIC KEY" {
			continue
		}
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PKIX public key: %w", err)
		}
		pub, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("%T, want an RSA public key", k)
		}
		if n := pub.N.BitLen(); n < MinKeyBits {
			return nil, fmt.Errorf("RSA key of %d bits, want at least %d", n, MinKeyBits)
		}
		return pub, nil
	}
}

// Name is the configured source name.
func (s *Source) Name() string { return s.name }

// Type is "wechatpay".
func (s *Source) Type() string { return Type }

// Channel is the channel events are reported for.
func (s *Source) Channel() string { return s.channel }

// Verify authenticates r by its Wechatpay-* headers. Every error wraps
// platforms.ErrUnauthorized, and also ErrMissingHeader, ErrUnknownSerial,
// ErrStale or ErrBadSignature.
//
// Probe requests whose signature starts with "WECHATPAY/SIGNTEST/" simply
// fail verification; they get no special case.
func (s *Source) Verify(r *platforms.Request) error {
	var h http.Header
	var body []byte
	if r != nil {
		h, body = r.Header, r.Body
	}
	tsHeader, nonce, sigHeader, serial := h.Get(HeaderTimestamp), h.Get(HeaderNonce), h.Get(HeaderSignature), h.Get(HeaderSerial)
	for _, m := range [...]struct{ name, v string }{
		{HeaderTimestamp, tsHeader}, {HeaderNonce, nonce}, {HeaderSignature, sigHeader}, {HeaderSerial, serial},
	} {
		if m.v == "" {
			return fmt.Errorf("%w: %w %s", platforms.ErrUnauthorized, ErrMissingHeader, m.name)
		}
	}
	// The header is optional; when present it must name the one scheme
	// WeChat Pay v3 signs notifications with.
	if st := h.Get(HeaderSignatureType); st != "" && st != SignatureType {
		return fmt.Errorf("%w: %w: %s %q not supported", platforms.ErrUnauthorized, ErrBadSignature, HeaderSignatureType, wire.Truncate(st, 64))
	}
	if subtle.ConstantTimeCompare([]byte(serial), []byte(s.serial)) != 1 {
		return fmt.Errorf("%w: %w %q", platforms.ErrUnauthorized, ErrUnknownSerial, wire.Truncate(serial, 64))
	}
	ts, err := strconv.ParseInt(tsHeader, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %s: not an integer", platforms.ErrUnauthorized, HeaderTimestamp)
	}
	if skew := s.now().Sub(time.Unix(ts, 0)).Abs(); skew >= s.tolerance {
		return fmt.Errorf("%w: %w", platforms.ErrUnauthorized, ErrStale)
	}
	sig, err := base64.StdEncoding.DecodeString(sigHeader)
	if err != nil {
		return fmt.Errorf("%w: %w: %s is not valid standard base64", platforms.ErrUnauthorized, ErrBadSignature, HeaderSignature)
	}
	// The timestamp is signed as the header spells it.
	digest := messageDigest(tsHeader, nonce, body)
	if err := rsa.VerifyPKCS1v15(s.pub, crypto.SHA256, digest, sig); err != nil {
		return fmt.Errorf("%w: %w", platforms.ErrUnauthorized, ErrBadSignature)
	}
	return nil
}

// messageDigest is SHA-256 of ts + "\n" + nonce + "\n" + body + "\n".
func messageDigest(ts, nonce string, body []byte) []byte {
	h := sha256.New()
	h.Write([]byte(ts))
	h.Write([]byte{'\n'})
	h.Write([]byte(nonce))
	h.Write([]byte{'\n'})
	h.Write(body)
	h.Write([]byte{'\n'})
	return h.Sum(nil)
}

// SignNotification returns the Wechatpay-Signature header value for a
// notification with unix timestamp ts, nonce and raw body, signed with the
// platform private key as WeChat Pay does.
func SignNotification(priv *rsa.PrivateKey, ts int64, nonce string, body []byte) (string, error) {
	if priv == nil {
		return "", errors.New("wechatpay: nil private key")
	}
	sig, err := rsa.SignPKCS1v15(nil, priv, crypto.SHA256, messageDigest(strconv.FormatInt(ts, 10), nonce, body))
	if err != nil {
		return "", fmt.Errorf("wechatpay: sign: %w", err)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// DeliveryID reads the Request-ID header, for auditing refused deliveries;
// it may be empty. An accepted delivery's ID is the notification id from
// the (encrypted-resource) envelope, which Parse returns.
func (s *Source) DeliveryID(r *platforms.Request) string {
	if r == nil {
		return ""
	}
	return r.Header.Get(HeaderRequestID)
}

// CodeFail is the code of every failure answer.
const CodeFail = "FAIL"

// maxMessage bounds the message echoed in a failure answer.
const maxMessage = 512

// FailBody is the JSON answer to a refused notification.
type FailBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Respond answers 204 with no body for an accepted (or duplicate)
// notification. Otherwise it answers o.Status (401 bad signature, 400
// malformed, 413 too large, 5xx not stored; all of which WeChat Pay
// retries) with {"code":"FAIL","message":"…"}. Messages of 5xx answers are
// generic so that no internal detail leaks.
func (s *Source) Respond(w http.ResponseWriter, o platforms.Outcome) {
	status := o.Status
	if status == 0 {
		status = platforms.StatusOf(o.Err)
	}
	if status >= 200 && status < 300 {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if status < 400 || status > 599 {
		status = http.StatusInternalServerError
	}
	var msg string
	switch {
	case status >= 500:
		// The cause (a database error, say) may name hosts or users.
		msg = "not stored; retry later"
	case o.Err != nil:
		msg = wire.Truncate(o.Err.Error(), maxMessage)
	default:
		msg = strings.ToLower(http.StatusText(status))
		if msg == "" {
			msg = "refused"
		}
	}
	b, err := json.Marshal(FailBody{Code: CodeFail, Message: msg})
	if err != nil { // cannot happen: plain strings
		b, status = []byte(`{"code":"FAIL","message":"internal error"}`), http.StatusInternalServerError
	}
	platforms.WriteJSON(w, status, b)
}
