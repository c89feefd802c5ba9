// Package top is the Taobao Open Platform (TOP) request-signing rule, shared
// by the connectors whose requests are signed the TOP way: tmall (relayed
// TMC messages) and qimen (WMS reports).
//
// The rule, as the official SDK's TaobaoUtils.signTopRequest applies it:
//
//  1. take every parameter except "sign", skipping empty keys and values;
//  2. sort them by key (byte order) and concatenate key1value1key2value2…,
//     with no separators and values not URL-encoded;
//  3. append the raw request body, if there is one;
//  4. md5: MD5(secret + string + secret); hmac: HMAC-MD5 keyed with the
//     secret; hmac-sha256: HMAC-SHA256 keyed with the secret;
//  5. write the digest as uppercase hex.
//
// Timestamps ("timestamp" parameter) are "yyyy-MM-dd HH:mm:ss" in GMT+8; see
// ParseTime and FormatTime.
package top

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/towerhq/tower/internal/platforms/wire"
)

// Signing methods, as the sign_method parameter names them.
const (
	MethodMD5        = "md5"
	MethodHMAC       = "hmac" // HMAC-MD5
	MethodHMACSHA256 = "hmac-sha256"
)

// Parameter names every TOP-signed request carries.
const (
	ParamAppKey     = "app_key"
	ParamTimestamp  = "timestamp"
	ParamSignMethod = "sign_method"
	ParamSign       = "sign"
)

var (
	// ErrUnsupportedMethod is returned for a sign_method other than md5,
	// hmac and hmac-sha256. (The official SDK falls back to md5 for any
	// other value; a receiver has no reason to be that lenient.)
	ErrUnsupportedMethod = errors.New("unsupported sign method")
	// ErrBadSignature is returned by Verify when the signature does not
	// match.
	ErrBadSignature = errors.New("bad signature")
	// ErrRepeatedParam is returned by Params for a parameter given twice,
	// which the signer and the receiver could read differently.
	ErrRepeatedParam = errors.New("repeated parameter")
)

// Sign returns the uppercase-hex TOP signature of params (the "sign" entry,
// if any, is ignored) and the raw body (nil or empty when the request has
// none), for method md5, hmac or hmac-sha256. Its errors never contain the
// secret.
func Sign(params map[string]string, body []byte, secret, method string) (string, error) {
	sum, err := digest(params, body, secret, method)
	if err != nil {
		return "", err
	}
	return strings.ToUpper(hex.EncodeToString(sum)), nil
}

// Verify reports whether sign is the TOP signature of params and body: nil
// when it matches, ErrUnsupportedMethod for an unknown method, otherwise
// ErrBadSignature. Hex case does not matter. The comparison takes constant
// time.
func Verify(params map[string]string, body []byte, secret, method, sign string) error {
	sum, err := digest(params, body, secret, method)
	if err != nil {
		return err
	}
	want := make([]byte, hex.EncodedLen(len(sum)))
	hex.Encode(want, sum)
	// hex.Encode writes lowercase; fold the received signature the same way.
	got := []byte(strings.ToLower(sign))
	if subtle.ConstantTimeCompare(want, got) != 1 {
		return ErrBadSignature
	}
	return nil
}

// SignString is the string a signature is computed over, before the
// secret: the sorted key-value pairs followed by the body. It is exported
// for tests and for debugging a sender's signature; it never contains the
// secret.
func SignString(params map[string]string, body []byte) string {
	keys := make([]string, 0, len(params))
	n := len(body)
	for k, v := range params {
		if k == "" || v == "" || k == ParamSign {
			continue
		}
		keys = append(keys, k)
		n += len(k) + len(v)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.Grow(n)
	for _, k := range keys {
		b.WriteString(k)
		b.WriteString(params[k])
	}
	b.Write(body)
	return b.String()
}

func digest(params map[string]string, body []byte, secret, method string) ([]byte, error) {
	var h hash.Hash
	switch method {
	case MethodMD5:
		h = md5.New()
		h.Write([]byte(secret))
		h.Write([]byte(SignString(params, nil)))
		h.Write(body)
		h.Write([]byte(secret))
		return h.Sum(nil), nil
	case MethodHMAC:
		h = hmac.New(md5.New, []byte(secret))
	case MethodHMACSHA256:
		h = hmac.New(sha256.New, []byte(secret))
	default:
		return nil, fmt.Errorf("%w %q", ErrUnsupportedMethod, wire.Truncate(method, 32))
	}
	h.Write([]byte(SignString(params, nil)))
	h.Write(body)
	return h.Sum(nil), nil
}

// Params turns query parameters into the map Sign and Verify take. A
// parameter given more than once is refused (ErrRepeatedParam): the sender
// and this receiver could disagree about which value was signed.
func Params(q url.Values) (map[string]string, error) {
	m := make(map[string]string, len(q))
	for k, vs := range q {
		if len(vs) > 1 {
			return nil, fmt.Errorf("%w %q", ErrRepeatedParam, wire.Truncate(k, 64))
		}
		if len(vs) == 1 {
			m[k] = vs[0]
		}
	}
	return m, nil
}

// TimeLayout is the layout of TOP timestamps, read in Location.
const TimeLayout = "2006-01-02 15:04:05"

// Location is GMT+8, the zone of every TOP timestamp.
var Location = time.FixedZone("GMT+8", 8*60*60)

// ParseTime reads a "yyyy-MM-dd HH:mm:ss" timestamp in GMT+8. Fractional
// seconds (".000") are accepted, as some senders add them.
func ParseTime(s string) (time.Time, error) {
	t, err := time.ParseInLocation("2006-01-02 15:04:05.999999999", s, Location)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q: want yyyy-MM-dd HH:mm:ss (GMT+8)", wire.Truncate(s, 40))
	}
	return t, nil
}

// FormatTime writes t as a TOP timestamp, "yyyy-MM-dd HH:mm:ss" in GMT+8.
func FormatTime(t time.Time) string { return t.In(Location).Format(TimeLayout) }
