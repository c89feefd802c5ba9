package tmall

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/towerhq/tower/internal/platforms"
	"github.com/towerhq/tower/internal/platforms/top"
)

// A vector computed by us with Python (hashlib/hmac), as for the reference's
// vectors: the relay's query is app_key, timestamp and sign_method, and the
// body is appended.
const (
	vecAppKey = "23456789"
	vecSecret = "tmall-test-secret"
	vecTS     = "2026-11-24 20:01:00"
	vecBody   = `{"id":2170000000000000001,"topic":"taobao_trade_TradeBuyerPay","pub_time":"2026-11-24 20:00:00","pub_app_key":"12497914","user_id":2200000000001,"user_nick":"tower旗舰店","content":"{\"buyer_nick\":\"t**1\",\"payment\":\"129.90\",\"oid\":4000000000000000001,\"tid\":4000000000000000001,\"type\":\"guarantee_trade\",\"seller_nick\":\"tower旗舰店\",\"status\":\"WAIT_SELLER_SEND_GOODS\"}"}`
)

var vecSigns = map[string]string{
	top.MethodMD5:        "69D1184DE5E3D05F8086915D14D375CB",
	top.MethodHMAC:       "557979FF29A6125A7FA855D262021C13",
	top.MethodHMACSHA256: "0F2C24EDC76CF56CB64C42B45831BDB3372119E4DBA0CA616E0798EC6A4673CA",
}

// testNow is two minutes after vecTS (GMT+8).
var testNow = time.Date(2026, 11, 24, 12, 3, 0, 0, time.UTC)

func clockAt(t time.Time) func() time.Time { return func() time.Time { return t } }

func mustNew(t testing.TB, cfg Config) *Source {
	t.Helper()
	s, err := New(cfg, clockAt(testNow))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func vecSource(t testing.TB) *Source {
	return mustNew(t, Config{Name: "tm", AppKey: vecAppKey, AppSecret: vecSecret})
}

func query(appKey, ts, method, sign string) url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"app_key": appKey, "timestamp": ts, "sign_method": method, "sign": sign} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

func TestVectors(t *testing.T) {
	t.Parallel()
	s := vecSource(t)
	at, _ := top.ParseTime(vecTS)
	for method, want := range vecSigns {
		t.Run(method, func(t *testing.T) {
			q, err := SignQuery(vecAppKey, vecSecret, method, at, []byte(vecBody))
			if err != nil {
				t.Fatal(err)
			}
			if got := q.Get("sign"); got != want {
				t.Fatalf("sign = %s, want %s", got, want)
			}
			if q.Get("timestamp") != vecTS || q.Get("app_key") != vecAppKey || q.Get("sign_method") != method {
				t.Fatalf("query %v", q)
			}
			if err := s.VerifyQuery(query(vecAppKey, vecTS, method, want), []byte(vecBody)); err != nil {
				t.Fatalf("VerifyQuery: %v", err)
			}
			// Through an encoded URL, the way the server would read it.
			q2, err := url.ParseQuery(q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			if err := s.VerifyQuery(q2, []byte(vecBody)); err != nil {
				t.Fatalf("VerifyQuery after URL round trip: %v", err)
			}
		})
	}
	if s.Name() != "tm" || s.Type() != "tmall" || s.Channel() != "tmall" {
		t.Fatalf("Name/Type/Channel = %q/%q/%q", s.Name(), s.Type(), s.Channel())
	}
}

// TestIndependentVector recomputes the signatures with fmt.Sprintf and the
// hash packages over the literal string.
func TestIndependentVector(t *testing.T) {
	t.Parallel()
	str := func(m string) string {
		return "app_key" + vecAppKey + "sign_method" + m + "timestamp" + vecTS + vecBody
	}
	want := map[string]string{
		top.MethodMD5: fmt.Sprintf("%X", md5.Sum([]byte(vecSecret+str(top.MethodMD5)+vecSecret))),
	}
	hm := hmac.New(md5.New, []byte(vecSecret))
	hm.Write([]byte(str(top.MethodHMAC)))
	want[top.MethodHMAC] = fmt.Sprintf("%X", hm.Sum(nil))
	hs := hmac.New(sha256.New, []byte(vecSecret))
	hs.Write([]byte(str(top.MethodHMACSHA256)))
	want[top.MethodHMACSHA256] = fmt.Sprintf("%X", hs.Sum(nil))
	for m, w := range want {
		if vecSigns[m] != w {
			t.Errorf("%s: independent %s, vector %s", m, w, vecSigns[m])
		}
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     Config
		nilNow  bool
		wantErr string
	}{
		{name: "ok", cfg: Config{Name: "tm", AppKey: "k", AppSecret: "topsecret"}},
		{name: "no app key", cfg: Config{Name: "tm", AppSecret: "topsecret"}, wantErr: "app_key: required"},
		{name: "no secret", cfg: Config{Name: "tm", AppKey: "k"}, wantErr: "app_secret: required"},
		{name: "secret with space", cfg: Config{Name: "tm", AppKey: "k", AppSecret: " topsecret"}, wantErr: "app_secret: leading or trailing space"},
		{name: "app key with space", cfg: Config{Name: "tm", AppKey: "k\t", AppSecret: "topsecret"}, wantErr: "app_key"},
		{name: "long channel", cfg: Config{Name: "tm", Channel: strings.Repeat("c", 33), AppKey: "k", AppSecret: "topsecret"}, wantErr: "channel"},
		{name: "negative tolerance", cfg: Config{Name: "tm", AppKey: "k", AppSecret: "topsecret", Tolerance: -time.Second}, wantErr: "tolerance"},
		{name: "nil clock", cfg: Config{AppKey: "k", AppSecret: "topsecret"}, nilNow: true, wantErr: "clock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := clockAt(testNow)
			if tt.nilNow {
				now = nil
			}
			s, err := New(tt.cfg, now)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if s.tolerance != DefaultTolerance || s.Channel() != "tmall" {
					t.Fatalf("defaults not applied: %v %q", s.tolerance, s.Channel())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "topsecret") {
				t.Fatalf("error %q leaks the secret", err)
			}
		})
	}
	s, err := New(Config{AppKey: "k", AppSecret: "s", Channel: "tmall-hk", Tolerance: time.Minute}, clockAt(testNow))
	if err != nil || s.Channel() != "tmall-hk" || s.tolerance != time.Minute {
		t.Fatalf("overrides: %v %v", s, err)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	body := []byte(vecBody)
	sig := vecSigns[top.MethodMD5]
	signed := func(appKey, secret, method string, at time.Time, b []byte) url.Values {
		q, err := SignQuery(appKey, secret, method, at, b)
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	now := testNow
	withExtra := signed(vecAppKey, vecSecret, top.MethodMD5, now, body)
	withExtra.Set("partner_id", "relay-1") // unsigned extra parameter
	extraSigned, _ := top.Params(withExtra)
	extraSigned["sign"], _ = top.Sign(extraSigned, body, vecSecret, top.MethodMD5)
	extraOK := url.Values{}
	for k, v := range extraSigned {
		extraOK.Set(k, v)
	}
	repeated := query(vecAppKey, vecTS, top.MethodMD5, sig)
	repeated.Add("sign", sig)
	tests := []struct {
		name   string
		q      url.Values
		body   []byte
		wantIs error // nil: success
	}{
		{name: "md5", q: query(vecAppKey, vecTS, "md5", sig), body: body},
		{name: "lowercase sign", q: query(vecAppKey, vecTS, "md5", strings.ToLower(sig)), body: body},
		{name: "hmac", q: query(vecAppKey, vecTS, "hmac", vecSigns["hmac"]), body: body},
		{name: "hmac-sha256", q: query(vecAppKey, vecTS, "hmac-sha256", vecSigns["hmac-sha256"]), body: body},
		{name: "edge: 10 minutes old", q: signed(vecAppKey, vecSecret, "md5", now.Add(-10*time.Minute), body), body: body},
		{name: "edge: 10 minutes ahead", q: signed(vecAppKey, vecSecret, "md5", now.Add(10*time.Minute), body), body: body},
		{name: "extra signed parameter", q: extraOK, body: body},
		{name: "empty body", q: signed(vecAppKey, vecSecret, "md5", now, nil), body: nil},

		{name: "wrong secret", q: signed(vecAppKey, "other-secret", "md5", now, body), body: body, wantIs: ErrBadSignature},
		{name: "tampered body", q: query(vecAppKey, vecTS, "md5", sig), body: []byte(strings.Replace(vecBody, "129.90", "1.00", 1)), wantIs: ErrBadSignature},
		{name: "extra unsigned parameter", q: withExtra, body: body, wantIs: ErrBadSignature},
		{name: "method swapped", q: query(vecAppKey, vecTS, "hmac", sig), body: body, wantIs: ErrBadSignature},
		{name: "unsupported method", q: query(vecAppKey, vecTS, "sha1", sig), body: body, wantIs: ErrBadSignature},
		{name: "uppercase method", q: query(vecAppKey, vecTS, "MD5", sig), body: body, wantIs: ErrBadSignature},
		{name: "repeated sign", q: repeated, body: body, wantIs: ErrBadSignature},
		{name: "wrong app key", q: signed("23456780", vecSecret, "md5", now, body), body: body, wantIs: ErrWrongAppKey},
		{name: "stale: 10m01s old", q: signed(vecAppKey, vecSecret, "md5", now.Add(-10*time.Minute-time.Second), body), body: body, wantIs: ErrStale},
		{name: "stale: 10m01s ahead", q: signed(vecAppKey, vecSecret, "md5", now.Add(10*time.Minute+time.Second), body), body: body, wantIs: ErrStale},
		{name: "replay a day later", q: signed(vecAppKey, vecSecret, "md5", now.Add(-24*time.Hour), body), body: body, wantIs: ErrStale},
		{name: "timestamp as unix", q: query(vecAppKey, "1795000000", "md5", sig), body: body, wantIs: ErrStale},
		{name: "timestamp RFC 3339", q: query(vecAppKey, "2026-11-24T20:01:00+08:00", "md5", sig), body: body, wantIs: ErrStale},
		{name: "missing app_key", q: query("", vecTS, "md5", sig), body: body, wantIs: ErrMissingParam},
		{name: "missing timestamp", q: query(vecAppKey, "", "md5", sig), body: body, wantIs: ErrMissingParam},
		{name: "missing sign_method", q: query(vecAppKey, vecTS, "", sig), body: body, wantIs: ErrMissingParam},
		{name: "missing sign", q: query(vecAppKey, vecTS, "md5", ""), body: body, wantIs: ErrMissingParam},
		{name: "no query", q: nil, body: body, wantIs: ErrMissingParam},
	}
	s := vecSource(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.VerifyQuery(tt.q, tt.body)
			if tt.wantIs == nil {
				if err != nil {
					t.Fatalf("VerifyQuery: %v", err)
				}
				return
			}
			if !errors.Is(err, platforms.ErrUnauthorized) || !errors.Is(err, tt.wantIs) {
				t.Fatalf("VerifyQuery = %v, want ErrUnauthorized and %v", err, tt.wantIs)
			}
			if strings.Contains(err.Error(), vecSecret) {
				t.Fatalf("error %q leaks the secret", err)
			}
		})
	}
}

// Verify reads the query from the request.
func TestVerifyRequest(t *testing.T) {
	t.Parallel()
	s := vecSource(t)
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	q := query(vecAppKey, vecTS, top.MethodMD5, vecSigns[top.MethodMD5])
	if err := s.Verify(&platforms.Request{Header: h, Query: q, Body: []byte(vecBody)}); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	for _, r := range []*platforms.Request{nil, {Header: h, Body: []byte(vecBody)}} {
		if err := s.Verify(r); !errors.Is(err, ErrMissingParam) || !errors.Is(err, platforms.ErrUnauthorized) {
			t.Fatalf("Verify without query = %v", err)
		}
	}
}

func TestRespond(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		o          platforms.Outcome
		wantStatus int
		wantBody   string
		notContain string
	}{
		{name: "accepted", o: platforms.Outcome{Status: 200, Accepted: 2}, wantStatus: 200, wantBody: `{"success":true}`},
		{name: "duplicate", o: platforms.Outcome{Status: 200, Duplicates: 1}, wantStatus: 200, wantBody: `{"success":true}`},
		{name: "202 answered 200", o: platforms.Outcome{Status: 202}, wantStatus: 200, wantBody: `{"success":true}`},
		{name: "zero status", o: platforms.Outcome{}, wantStatus: 200, wantBody: `{"success":true}`},
		{
			name: "unauthorized", o: platforms.Outcome{Status: 401, Err: fmt.Errorf("%w: %w", platforms.ErrUnauthorized, ErrStale)},
			wantStatus: 401, wantBody: `{"success":false,"message":"unauthorized: timestamp outside tolerance"}`,
		},
		{
			name: "malformed", o: platforms.Outcome{Status: 400, Err: fmt.Errorf("%w: empty body", platforms.ErrMalformed)},
			wantStatus: 400, wantBody: `{"success":false,"message":"malformed: empty body"}`,
		},
		{name: "too large", o: platforms.Outcome{Status: 413}, wantStatus: 413, wantBody: `{"success":false,"message":"request entity too large"}`},
		{
			name: "zero status malformed", o: platforms.Outcome{Err: fmt.Errorf("%w: x", platforms.ErrMalformed)},
			wantStatus: 400, wantBody: `{"success":false,"message":"malformed: x"}`,
		},
		{
			name: "not stored", o: platforms.Outcome{Status: 503, Err: errors.New("dial postgres://tower:hunter2@db")},
			wantStatus: 503, wantBody: `{"success":false,"message":"not stored; retry later"}`, notContain: "hunter2",
		},
	}
	s := vecSource(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			s.Respond(rec, tt.o)
			if rec.Code != tt.wantStatus {
				t.Errorf("status %d, want %d", rec.Code, tt.wantStatus)
			}
			if got := rec.Body.String(); got != tt.wantBody {
				t.Errorf("body %s, want %s", got, tt.wantBody)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
			if tt.notContain != "" && strings.Contains(rec.Body.String(), tt.notContain) {
				t.Errorf("body leaks %q", tt.notContain)
			}
		})
	}
}

func TestDeliveryID(t *testing.T) {
	t.Parallel()
	s := vecSource(t)
	tests := []struct{ body, want string }{
		{vecBody, "2170000000000000001"},
		{`{"id":"abc"}`, "abc"},
		{` {"id":1,"topic":7}`, "1"},
		{`[{"id":1}]`, ""},
		{`{"id":1.5}`, ""},
		{`{"id":`, ""},
		{``, ""},
	}
	for _, tt := range tests {
		if got := s.DeliveryID(&platforms.Request{Body: []byte(tt.body)}); got != tt.want {
			t.Errorf("DeliveryID(%q) = %q, want %q", tt.body, got, tt.want)
		}
	}
	if s.DeliveryID(nil) != "" {
		t.Error("DeliveryID(nil)")
	}
}
