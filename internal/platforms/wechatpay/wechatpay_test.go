package wechatpay

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms"
)

// Test configuration. The APIv3 key and AES vector are the reference's
// "computed by us" values (§3).
const (
	testKey    = "0123456789abcdef0123456789abcdef"
	testMchID  = "1900000109"
	testSerial = "PUB_KEY_ID_0119000001092025010100000000000001"
	testNow    = int64(1_790_000_000)
)

// Throwaway 2048-bit RSA keys, generated once per test binary.
var (
	platformKey = sync.OnceValue(func() *rsa.PrivateKey { return genKey(2048) })
	otherKey    = sync.OnceValue(func() *rsa.PrivateKey { return genKey(2048) })
)

func genKey(bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		panic(err)
	}
	return k
}

func pubPEM(t testing.TB, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func clockAt(unix int64) func() time.Time {
	return func() time.Time { return time.Unix(unix, 0) }
}

func testConfig(t testing.TB) Config {
	return Config{
		Name: "mp-pay", MchID: testMchID, APIv3Key: testKey,
		PlatformPublicKeyPEM: pubPEM(t, &platformKey().PublicKey), PlatformPublicKeyID: testSerial,
	}
}

func mustNew(t testing.TB, cfg Config, now func() time.Time) *Source {
	t.Helper()
	s, err := New(cfg, now)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func testSource(t testing.TB) *Source { return mustNew(t, testConfig(t), clockAt(testNow)) }

func testSigner() Signer {
	return Signer{APIv3Key: testKey, PrivateKey: platformKey(), Serial: testSerial}
}

// signedRequest signs body with key as WeChat Pay does and returns the
// request with all four headers.
func signedRequest(t testing.TB, key *rsa.PrivateKey, ts int64, nonce string, body []byte) *platforms.Request {
	t.Helper()
	sig, err := SignNotification(key, ts, nonce, body)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(HeaderNonce, nonce)
	h.Set(HeaderSignature, sig)
	h.Set(HeaderSerial, testSerial)
	h.Set(HeaderSignatureType, SignatureType)
	return &platforms.Request{Header: h, Body: body}
}

func TestNew(t *testing.T) {
	dir := t.TempDir()
	goodPEM := pubPEM(t, &platformKey().PublicKey)
	keyFile := filepath.Join(dir, "wechatpay_pub.pem")
	if err := os.WriteFile(keyFile, goodPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	certThenKey := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2, 3}}), goodPEM...)
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&platformKey().PublicKey)})
	garbledDER := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte("not DER")})
	with := func(f func(*Config)) Config { c := testConfig(t); f(&c); return c }

	tests := []struct {
		name    string
		cfg     Config
		now     func() time.Time
		wantErr string // substring; "" means success
		channel string
	}{
		{name: "ok", cfg: testConfig(t), channel: "miniprogram"},
		{name: "channel override", cfg: with(func(c *Config) { c.Channel = "mp-cn" }), channel: "mp-cn"},
		{name: "key file", cfg: with(func(c *Config) { c.PlatformPublicKeyPEM = nil; c.PlatformPublicKeyFile = keyFile }), channel: "miniprogram"},
		{name: "PEM bytes win over file", cfg: with(func(c *Config) { c.PlatformPublicKeyFile = filepath.Join(dir, "absent.pem") }), channel: "miniprogram"},
		{name: "other blocks skipped", cfg: with(func(c *Config) { c.PlatformPublicKeyPEM = certThenKey }), channel: "miniprogram"},
		{name: "nil clock", cfg: testConfig(t), now: nil, wantErr: "clock"},
		{name: "no mchid", cfg: with(func(c *Config) { c.MchID = "" }), wantErr: "mchid: required"},
		{name: "no apiv3 key", cfg: with(func(c *Config) { c.APIv3Key = "" }), wantErr: "apiv3_key: required"},
		{name: "apiv3 key 31 bytes", cfg: with(func(c *Config) { c.APIv3Key = testKey[:31] }), wantErr: "is 31 bytes, want 32"},
		{name: "apiv3 key 33 bytes", cfg: with(func(c *Config) { c.APIv3Key = testKey + "X" }), wantErr: "is 33 bytes"},
		{name: "apiv3 key not ASCII", cfg: with(func(c *Config) { c.APIv3Key = testKey[:30] + "é" }), wantErr: "byte 30 is not a printable ASCII"},
		{name: "apiv3 key with space", cfg: with(func(c *Config) { c.APIv3Key = " " + testKey[1:] }), wantErr: "byte 0"},
		{name: "no key id", cfg: with(func(c *Config) { c.PlatformPublicKeyID = "" }), wantErr: "platform_public_key_id: required"},
		{name: "no public key", cfg: with(func(c *Config) { c.PlatformPublicKeyPEM = nil }), wantErr: "platform_public_key_file: required"},
		{name: "key file missing", cfg: with(func(c *Config) {
			c.PlatformPublicKeyPEM = nil
			c.PlatformPublicKeyFile = filepath.Join(dir, "absent.pem")
		}), wantErr: "absent.pem"},
		{name: "not PEM", cfg: with(func(c *Config) { c.PlatformPublicKeyPEM = []byte("hello") }), wantErr: `no PEM "PUBLIC KEY" block`},
		{name: "PKCS#1 block", cfg: with(func(c *Config) { c.PlatformPublicKeyPEM = pkcs1 }), wantErr: `no PEM "PUBLIC KEY" block`},
		{name: "garbled DER", cfg: with(func(c *Config) { c.PlatformPublicKeyPEM = garbledDER }), wantErr: "PKIX public key"},
		{name: "EC key", cfg: with(func(c *Config) { c.PlatformPublicKeyPEM = pubPEM(t, &ecKey.PublicKey) }), wantErr: "want an RSA public key"},
		{name: "1024-bit key", cfg: with(func(c *Config) { c.PlatformPublicKeyPEM = pubPEM(t, &genKey(1024).PublicKey) }), wantErr: "1024 bits, want at least 2048"},
		{name: "long channel", cfg: with(func(c *Config) { c.Channel = strings.Repeat("c", 33) }), wantErr: "channel"},
		{name: "negative tolerance", cfg: with(func(c *Config) { c.Tolerance = -time.Second }), wantErr: "tolerance"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := tt.now
			if now == nil && tt.wantErr != "clock" {
				now = clockAt(testNow)
			}
			s, err := New(tt.cfg, now)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if s.Channel() != tt.channel || s.Name() != "mp-pay" || s.Type() != "wechatpay" || s.tolerance != DefaultTolerance {
					t.Fatalf("channel %q name %q type %q tolerance %v", s.Channel(), s.Name(), s.Type(), s.tolerance)
				}
				return
			}
			if err == nil {
				t.Fatalf("New succeeded, want error containing %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %q does not contain %q", err, tt.wantErr)
			}
			if k := tt.cfg.APIv3Key; len(k) >= 8 && strings.Contains(err.Error(), k[1:len(k)-1]) {
				t.Fatalf("error %q leaks the APIv3 key", err)
			}
		})
	}
}

// TestSignNotificationIndependent checks SignNotification against a
// signature made by a different code path: the message assembled with
// fmt.Sprintf and hashed in one go.
func TestSignNotificationIndependent(t *testing.T) {
	body := []byte(`{"id":"EV-2018022511223320873","event_type":"TRANSACTION.SUCCESS"}`)
	const ts, nonce = int64(1554208460), "593BEC0C930BF1AFEB40B4A08C8FB242"
	msg := fmt.Sprintf("%d\n%s\n%s\n", ts, nonce, body)
	digest := sha256.Sum256([]byte(msg))
	want, err := rsa.SignPKCS1v15(nil, platformKey(), crypto.SHA256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	got, err := SignNotification(platformKey(), ts, nonce, body)
	if err != nil {
		t.Fatal(err)
	}
	// PKCS#1 v1.5 is deterministic.
	if got != base64.StdEncoding.EncodeToString(want) {
		t.Fatal("SignNotification differs from the independently computed signature")
	}
	s := mustNew(t, testConfig(t), clockAt(ts))
	h := http.Header{}
	h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(HeaderNonce, nonce)
	h.Set(HeaderSignature, base64.StdEncoding.EncodeToString(want))
	h.Set(HeaderSerial, testSerial)
	if err := s.Verify(&platforms.Request{Header: h, Body: body}); err != nil {
		t.Fatalf("Verify of independent signature: %v", err)
	}
	if _, err := SignNotification(nil, ts, nonce, body); err == nil {
		t.Fatal("SignNotification with nil key succeeded")
	}
}

func TestVerify(t *testing.T) {
	body := []byte(`{"id":"EV-1","event_type":"TRANSACTION.SUCCESS","resource":{}}`)
	const nonce = "fdasflkja484w"
	good := signedRequest(t, platformKey(), testNow, nonce, body)
	goodSig := good.Header.Get(HeaderSignature)
	at := func(d int64) *platforms.Request { return signedRequest(t, platformKey(), testNow+d, nonce, body) }
	edit := func(r *platforms.Request, f func(h http.Header)) *platforms.Request {
		h := r.Header.Clone()
		f(h)
		return &platforms.Request{Header: h, Body: r.Body}
	}
	without := func(name string) *platforms.Request { return edit(good, func(h http.Header) { h.Del(name) }) }
	set := func(name, v string) *platforms.Request { return edit(good, func(h http.Header) { h.Set(name, v) }) }
	withBody := func(b []byte) *platforms.Request { return &platforms.Request{Header: good.Header, Body: b} }
	probe := func(suffix string) *platforms.Request { return set(HeaderSignature, "WECHATPAY/SIGNTEST/"+suffix) }
	randomSig := make([]byte, 256)
	rand.Read(randomSig)

	tests := []struct {
		name        string
		req         *platforms.Request
		wantIs      error // nil means success
		wantMessage string
	}{
		{name: "valid", req: good},
		{name: "valid without signature type", req: without(HeaderSignatureType)},
		{name: "valid 299 s old", req: at(-299)},
		{name: "valid 299 s ahead", req: at(299)},
		{name: "valid with lower-case header names", req: &platforms.Request{Body: body, Header: http.Header{
			"Wechatpay-Timestamp": good.Header.Values(HeaderTimestamp), "Wechatpay-Nonce": {nonce},
			"Wechatpay-Signature": {goodSig}, "Wechatpay-Serial": {testSerial},
		}}},

		{name: "missing timestamp", req: without(HeaderTimestamp), wantIs: ErrMissingHeader, wantMessage: HeaderTimestamp},
		{name: "missing nonce", req: without(HeaderNonce), wantIs: ErrMissingHeader, wantMessage: HeaderNonce},
		{name: "missing signature", req: without(HeaderSignature), wantIs: ErrMissingHeader, wantMessage: HeaderSignature},
		{name: "missing serial", req: without(HeaderSerial), wantIs: ErrMissingHeader, wantMessage: HeaderSerial},
		{name: "empty serial", req: set(HeaderSerial, ""), wantIs: ErrMissingHeader, wantMessage: HeaderSerial},
		{name: "no headers", req: &platforms.Request{Body: body}, wantIs: ErrMissingHeader},
		{name: "nil request", req: nil, wantIs: ErrMissingHeader},

		{name: "unknown serial", req: set(HeaderSerial, "PUB_KEY_ID_0000000000000000000000000000000000"), wantIs: ErrUnknownSerial},
		{name: "certificate serial", req: set(HeaderSerial, "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"), wantIs: ErrUnknownSerial},
		{name: "serial in other case", req: set(HeaderSerial, strings.ToLower(testSerial)), wantIs: ErrUnknownSerial},
		{name: "serial with suffix", req: set(HeaderSerial, testSerial+"0"), wantIs: ErrUnknownSerial},

		{name: "stale: exactly 300 s old", req: at(-300), wantIs: ErrStale},
		{name: "stale: exactly 300 s ahead", req: at(300), wantIs: ErrStale},
		{name: "stale: an hour old", req: at(-3600), wantIs: ErrStale},
		{name: "stale: an hour ahead", req: at(3600), wantIs: ErrStale},
		{name: "stale: far future", req: set(HeaderTimestamp, "9223372036854775807"), wantIs: ErrStale},
		{name: "stale: far past", req: set(HeaderTimestamp, "-9223372036854775808"), wantIs: ErrStale},
		{name: "timestamp not an integer", req: set(HeaderTimestamp, "1790000000.0"), wantIs: platforms.ErrUnauthorized, wantMessage: "not an integer"},
		{name: "timestamp in ms", req: set(HeaderTimestamp, "1790000000000"), wantIs: ErrStale},

		{name: "tampered body", req: withBody(append(append([]byte{}, body...), ' ')), wantIs: ErrBadSignature},
		{name: "tampered body byte", req: withBody([]byte(strings.Replace(string(body), "EV-1", "EV-2", 1))), wantIs: ErrBadSignature},
		{name: "empty body", req: withBody(nil), wantIs: ErrBadSignature},
		{name: "tampered nonce", req: set(HeaderNonce, nonce+"x"), wantIs: ErrBadSignature},
		{name: "tampered timestamp", req: set(HeaderTimestamp, strconv.FormatInt(testNow+1, 10)), wantIs: ErrBadSignature},
		{name: "timestamp with plus sign", req: set(HeaderTimestamp, "+"+strconv.FormatInt(testNow, 10)), wantIs: ErrBadSignature},
		{name: "signed by another key", req: signedRequestOther(t, body, nonce), wantIs: ErrBadSignature},
		{name: "random signature", req: set(HeaderSignature, base64.StdEncoding.EncodeToString(randomSig)), wantIs: ErrBadSignature},
		{name: "truncated signature", req: set(HeaderSignature, goodSig[:len(goodSig)-4]), wantIs: ErrBadSignature},
		{name: "signature not base64", req: set(HeaderSignature, "%%%"), wantIs: ErrBadSignature, wantMessage: "base64"},
		{name: "url-safe base64 signature", req: set(HeaderSignature, strings.NewReplacer("+", "-", "/", "_").Replace(goodSig)+"-_"), wantIs: ErrBadSignature},
		{name: "probe signature", req: probe("kWVtsmLSKnnGwwaAImsRbGrfkawnSWqo"), wantIs: ErrBadSignature},
		{name: "probe signature not base64", req: probe("kWVtsmLSKnnGwwaAImsRbGrf-_"), wantIs: ErrBadSignature},
		{name: "probe prefix on good signature", req: probe(goodSig), wantIs: ErrBadSignature},
		{name: "other signature type", req: set(HeaderSignatureType, "WECHATPAY2-SM2-WITH-SM3"), wantIs: ErrBadSignature, wantMessage: "not supported"},
		{name: "signature type lower case", req: set(HeaderSignatureType, strings.ToLower(SignatureType)), wantIs: ErrBadSignature},
	}
	s := testSource(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Verify(tt.req)
			if tt.wantIs == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Verify succeeded, want error")
			}
			if !errors.Is(err, platforms.ErrUnauthorized) {
				t.Errorf("error %q does not wrap ErrUnauthorized", err)
			}
			if !errors.Is(err, tt.wantIs) {
				t.Errorf("error %q does not wrap %v", err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), tt.wantMessage) {
				t.Errorf("error %q does not contain %q", err, tt.wantMessage)
			}
			if strings.Contains(err.Error(), testKey) {
				t.Errorf("error %q leaks the APIv3 key", err)
			}
		})
	}
}

func signedRequestOther(t *testing.T, body []byte, nonce string) *platforms.Request {
	return signedRequest(t, otherKey(), testNow, nonce, body)
}

func TestVerifyCustomTolerance(t *testing.T) {
	cfg := testConfig(t)
	cfg.Tolerance = 10 * time.Second
	s := mustNew(t, cfg, clockAt(testNow))
	body := []byte(`{}`)
	for d, want := range map[int64]error{-10: ErrStale, 10: ErrStale, -9: nil, 9: nil} {
		err := s.Verify(signedRequest(t, platformKey(), testNow+d, "n", body))
		if !errors.Is(err, want) || (want == nil) != (err == nil) {
			t.Errorf("skew %ds: err = %v, want %v", d, err, want)
		}
	}
}

func TestDeliveryID(t *testing.T) {
	s := testSource(t)
	h := http.Header{}
	if got := s.DeliveryID(&platforms.Request{Header: h}); got != "" {
		t.Fatalf("DeliveryID without Request-ID = %q", got)
	}
	h.Set("Request-Id", "08F78BB5AF0610D302A9C5C70A8A9A4C")
	if got := s.DeliveryID(&platforms.Request{Header: h}); got != "08F78BB5AF0610D302A9C5C70A8A9A4C" {
		t.Fatalf("DeliveryID = %q", got)
	}
	if got := s.DeliveryID(nil); got != "" {
		t.Fatalf("DeliveryID(nil) = %q", got)
	}
}

func TestRespond(t *testing.T) {
	malformed := fmt.Errorf("%w: %w", platforms.ErrMalformed, &order.FieldError{Field: "resource.nonce", Reason: "5 bytes, want 12"})
	tests := []struct {
		name        string
		o           platforms.Outcome
		wantStatus  int
		wantMessage string // "" means no body
		notContain  string
	}{
		{name: "accepted", o: platforms.Outcome{Status: 200, Accepted: 1}, wantStatus: 204},
		{name: "duplicate", o: platforms.Outcome{Status: 200, Duplicates: 1}, wantStatus: 204},
		{name: "zero status success", o: platforms.Outcome{}, wantStatus: 204},
		{name: "202", o: platforms.Outcome{Status: 202}, wantStatus: 204},
		{name: "unauthorized", o: platforms.Outcome{Status: 401, Err: fmt.Errorf("%w: %w", platforms.ErrUnauthorized, ErrBadSignature)}, wantStatus: 401, wantMessage: "unauthorized: bad signature"},
		{name: "malformed", o: platforms.Outcome{Status: 400, Err: malformed}, wantStatus: 400, wantMessage: "malformed: resource.nonce: 5 bytes, want 12"},
		{name: "too large", o: platforms.Outcome{Status: 413}, wantStatus: 413, wantMessage: "request entity too large"},
		{name: "not stored", o: platforms.Outcome{Status: 503, Err: errors.New("dial postgres://tower:hunter2@db")}, wantStatus: 503, wantMessage: "not stored; retry later", notContain: "hunter2"},
		{name: "internal", o: platforms.Outcome{Status: 500, Err: errors.New("boom")}, wantStatus: 500, wantMessage: "not stored; retry later", notContain: "boom"},
		{name: "zero status unauthorized", o: platforms.Outcome{Err: fmt.Errorf("%w: x", platforms.ErrUnauthorized)}, wantStatus: 401, wantMessage: "unauthorized: x"},
		{name: "zero status malformed", o: platforms.Outcome{Err: malformed}, wantStatus: 400, wantMessage: "malformed: resource.nonce: 5 bytes, want 12"},
		{name: "zero status other error", o: platforms.Outcome{Err: errors.New("db down")}, wantStatus: 503, wantMessage: "not stored; retry later"},
		{name: "odd status", o: platforms.Outcome{Status: 302}, wantStatus: 500, wantMessage: "not stored; retry later"},
	}
	s := testSource(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			s.Respond(rec, tt.o)
			if rec.Code != tt.wantStatus {
				t.Errorf("status %d, want %d", rec.Code, tt.wantStatus)
			}
			if tt.wantMessage == "" {
				if rec.Body.Len() != 0 {
					t.Errorf("body %q, want none", rec.Body)
				}
				return
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
			var b FailBody
			if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if b.Code != "FAIL" || b.Message != tt.wantMessage {
				t.Errorf("body %+v, want FAIL %q", b, tt.wantMessage)
			}
			if tt.notContain != "" && strings.Contains(rec.Body.String(), tt.notContain) {
				t.Errorf("body %q contains %q", rec.Body, tt.notContain)
			}
			if cl := rec.Header().Get("Content-Length"); cl != strconv.Itoa(rec.Body.Len()) {
				t.Errorf("Content-Length %s for %d bytes", cl, rec.Body.Len())
			}
		})
	}
}

func TestRespondTruncatesLongMessages(t *testing.T) {
	s := testSource(t)
	rec := httptest.NewRecorder()
	s.Respond(rec, platforms.Outcome{Status: 400, Err: fmt.Errorf("%w: %s", platforms.ErrMalformed, strings.Repeat("张", 1000))})
	var b FailBody
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatal(err)
	}
	if len(b.Message) > maxMessage+len("…") || strings.ContainsRune(b.Message, '\uFFFD') {
		t.Fatalf("message of %d bytes, or split UTF-8", len(b.Message))
	}
}

func TestMarshalPublicKeyPEM(t *testing.T) {
	b, err := MarshalPublicKeyPEM(&platformKey().PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ParsePublicKeyPEM(b)
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Equal(&platformKey().PublicKey) {
		t.Fatal("round trip changed the key")
	}
}
