package douyin

import (
	"crypto/md5"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/towerhq/tower/internal/platforms"
)

// The reference's computed vector (platforms.md §1).
const (
	vecAppKey = "7000000000000000001"
	vecSecret = "douyin-test-secret"
	vecBody   = `[{"tag":"101","msg_id":"7300000000000000001","data":"{\"biz\":2,\"order_status\":2,\"order_type\":0,\"p_id\":6921000000001,\"pay_amount\":12990,\"pay_time\":1764000000,\"pay_type\":1,\"s_ids\":[6921000000002],\"shop_id\":1000}"}]`
	vecSign   = "355554122ab85c4646b5c44f6f088979"
)

var testNow = time.Date(2026, 11, 24, 20, 0, 0, 0, time.UTC)

func clock() time.Time { return testNow }

func mustNew(t testing.TB, cfg Config) *Source {
	t.Helper()
	s, err := New(cfg, clock)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func vecSource(t testing.TB) *Source {
	return mustNew(t, Config{Name: "dy", AppKey: vecAppKey, AppSecret: vecSecret})
}

func request(appID, sign, method string, body []byte) *platforms.Request {
	h := http.Header{}
	if appID != "" {
		h.Set(HeaderAppID, appID)
	}
	if sign != "" {
		h.Set(HeaderEventSign, sign)
	}
	if method != "" {
		h.Set(HeaderSignMethod, method)
	}
	return &platforms.Request{Header: h, Body: body, ReceivedAt: testNow}
}

func TestReferenceVector(t *testing.T) {
	t.Parallel()
	if len(vecBody) != 229 {
		t.Fatalf("vector body is %d bytes, want 229", len(vecBody))
	}
	if got := Sign(vecAppKey, vecSecret, []byte(vecBody)); got != vecSign {
		t.Fatalf("Sign = %s, want %s", got, vecSign)
	}
	s := vecSource(t)
	if err := s.Verify(request(vecAppKey, vecSign, "", []byte(vecBody))); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if s.Name() != "dy" || s.Type() != "douyin" || s.Channel() != "douyin" {
		t.Fatalf("Name/Type/Channel = %q/%q/%q", s.Name(), s.Type(), s.Channel())
	}
	// NewRequest rebuilds the vector's body byte for byte.
	data := `{"biz":2,"order_status":2,"order_type":0,"p_id":6921000000001,"pay_amount":12990,"pay_time":1764000000,"pay_type":1,"s_ids":[6921000000002],"shop_id":1000}`
	body, h, err := NewRequest(vecAppKey, vecSecret, Message{Tag: "101", MsgID: "7300000000000000001", Data: json.RawMessage(data)})
	if err != nil {
		t.Fatal(err)
	}
	if string(body) != vecBody {
		t.Fatalf("NewRequest body\n got %s\nwant %s", body, vecBody)
	}
	if h.Get(HeaderEventSign) != vecSign || h.Get(HeaderAppID) != vecAppKey || h.Get(HeaderSignMethod) != "md5" {
		t.Fatalf("NewRequest headers %v", h)
	}
}

// TestIndependentVector signs with fmt.Sprintf and crypto/md5 directly.
func TestIndependentVector(t *testing.T) {
	t.Parallel()
	const key, secret = "1234", "s3cr3t"
	body := `[{"tag":"100","msg_id":"1","data":"{\"p_id\":5,\"create_time\":1}"}]`
	want := fmt.Sprintf("%x", md5.Sum([]byte(key+body+secret)))
	if got := Sign(key, secret, []byte(body)); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	// And the empty body.
	if got, want := Sign(key, secret, nil), fmt.Sprintf("%x", md5.Sum([]byte(key+secret))); got != want {
		t.Fatalf("Sign(empty) = %s, want %s", got, want)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     Config
		nilNow  bool
		wantErr string
		channel string
	}{
		{name: "ok", cfg: Config{Name: "dy", AppKey: "k", AppSecret: "topsecret"}, channel: "douyin"},
		{name: "channel override", cfg: Config{Name: "dy", Channel: "douyin-hk", AppKey: "k", AppSecret: "topsecret"}, channel: "douyin-hk"},
		{name: "no app key", cfg: Config{Name: "dy", AppSecret: "topsecret"}, wantErr: "app_key: required"},
		{name: "no secret", cfg: Config{Name: "dy", AppKey: "k"}, wantErr: "app_secret: required"},
		{name: "secret with space", cfg: Config{Name: "dy", AppKey: "k", AppSecret: "topsecret\n"}, wantErr: "app_secret: leading or trailing space"},
		{name: "app key with space", cfg: Config{Name: "dy", AppKey: " k", AppSecret: "topsecret"}, wantErr: "app_key"},
		{name: "long channel", cfg: Config{Name: "dy", Channel: strings.Repeat("c", 33), AppKey: "k", AppSecret: "topsecret"}, wantErr: "channel"},
		{name: "nil clock", cfg: Config{AppKey: "k", AppSecret: "topsecret"}, nilNow: true, wantErr: "clock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := clock
			if tt.nilNow {
				now = nil
			}
			s, err := New(tt.cfg, now)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if s.Channel() != tt.channel {
					t.Fatalf("channel %q, want %q", s.Channel(), tt.channel)
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
}

func TestVerify(t *testing.T) {
	t.Parallel()
	body := []byte(vecBody)
	tests := []struct {
		name   string
		req    *platforms.Request
		wantIs error // nil: success
	}{
		{name: "valid", req: request(vecAppKey, vecSign, "", body)},
		{name: "sign-method md5", req: request(vecAppKey, vecSign, "md5", body)},
		{name: "sign-method MD5", req: request(vecAppKey, vecSign, "MD5", body)},
		{name: "uppercase hex", req: request(vecAppKey, strings.ToUpper(vecSign), "", body)},

		{name: "wrong secret", req: request(vecAppKey, Sign(vecAppKey, "other", body), "", body), wantIs: ErrBadSignature},
		{name: "tampered body", req: request(vecAppKey, vecSign, "", []byte(strings.Replace(vecBody, "12990", "12991", 1))), wantIs: ErrBadSignature},
		{name: "whitespace added", req: request(vecAppKey, vecSign, "", append([]byte(vecBody), '\n')), wantIs: ErrBadSignature},
		{name: "signed with another app key", req: request(vecAppKey, Sign("7000000000000000002", vecSecret, body), "", body), wantIs: ErrBadSignature},
		{name: "truncated sign", req: request(vecAppKey, vecSign[:31], "", body), wantIs: ErrBadSignature},
		{name: "sign not hex", req: request(vecAppKey, strings.Repeat("z", 32), "", body), wantIs: ErrBadSignature},
		{name: "wrong app-id", req: request("7000000000000000002", Sign("7000000000000000002", vecSecret, body), "", body), wantIs: ErrWrongAppKey},
		{name: "app-id prefix", req: request(vecAppKey[:5], vecSign, "", body), wantIs: ErrWrongAppKey},
		{name: "missing app-id", req: request("", vecSign, "", body), wantIs: ErrMissingHeader},
		{name: "missing event-sign", req: request(vecAppKey, "", "", body), wantIs: ErrMissingHeader},
		{name: "sign-method hmac-sha256", req: request(vecAppKey, vecSign, "hmac-sha256", body), wantIs: ErrUnsupportedSignMethod},
		{name: "sign-method garbage", req: request(vecAppKey, vecSign, "none", body), wantIs: ErrUnsupportedSignMethod},
		{name: "nil request", req: nil, wantIs: ErrMissingHeader},
	}
	s := vecSource(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Verify(tt.req)
			if tt.wantIs == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if !errors.Is(err, platforms.ErrUnauthorized) || !errors.Is(err, tt.wantIs) {
				t.Fatalf("Verify = %v, want ErrUnauthorized and %v", err, tt.wantIs)
			}
			if strings.Contains(err.Error(), vecSecret) {
				t.Fatalf("error %q leaks the secret", err)
			}
		})
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
		{name: "accepted", o: platforms.Outcome{Status: 200, Accepted: 3}, wantStatus: 200, wantBody: `{"code":0,"msg":"success"}`},
		{name: "duplicates", o: platforms.Outcome{Status: 200, Duplicates: 3}, wantStatus: 200, wantBody: `{"code":0,"msg":"success"}`},
		{name: "zero status", o: platforms.Outcome{}, wantStatus: 200, wantBody: `{"code":0,"msg":"success"}`},
		{
			name: "bad signature", o: platforms.Outcome{Status: 401, Err: fmt.Errorf("%w: %w", platforms.ErrUnauthorized, ErrBadSignature)},
			wantStatus: 200, wantBody: `{"code":1,"msg":"unauthorized: bad signature"}`,
		},
		{
			name: "malformed", o: platforms.Outcome{Status: 400, Err: fmt.Errorf("%w: body: want a JSON array of messages", platforms.ErrMalformed)},
			wantStatus: 200, wantBody: `{"code":1,"msg":"malformed: body: want a JSON array of messages"}`,
		},
		{name: "too large without error", o: platforms.Outcome{Status: 413}, wantStatus: 200, wantBody: `{"code":1,"msg":"request entity too large"}`},
		{
			name: "zero status unauthorized", o: platforms.Outcome{Err: fmt.Errorf("%w: x", platforms.ErrUnauthorized)},
			wantStatus: 200, wantBody: `{"code":1,"msg":"unauthorized: x"}`,
		},
		{
			name: "not stored", o: platforms.Outcome{Status: 503, Err: errors.New("dial postgres://tower:hunter2@db")},
			wantStatus: 503, wantBody: `{"code":1,"msg":"not stored; retry later"}`, notContain: "hunter2",
		},
		{
			name: "zero status other error", o: platforms.Outcome{Err: errors.New("boom hunter2")},
			wantStatus: 503, wantBody: `{"code":1,"msg":"not stored; retry later"}`, notContain: "hunter2",
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

func TestEncodeBodyRejectsBadData(t *testing.T) {
	t.Parallel()
	for _, d := range []string{``, `[]`, `"x"`, `{`, `12`} {
		if _, err := EncodeBody([]Message{{Tag: "100", MsgID: "1", Data: json.RawMessage(d)}}); err == nil {
			t.Errorf("EncodeBody with data %q succeeded", d)
		}
	}
	b, err := EncodeBody(nil)
	if err != nil || string(b) != "[]" {
		t.Errorf("EncodeBody(nil) = %s, %v", b, err)
	}
}
