package kuaidi100

import (
	"crypto/md5"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/towerhq/tower/internal/platforms"
)

// The reference's computed vector (platforms.md §5).
const (
	vecSalt = "k100salt"
	vecSign = "9DF2AA8D9DAD6057D4AFB8632BBF4FC2"
)

var recvAt = time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC)

func clockAt(t time.Time) func() time.Time { return func() time.Time { return t } }

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testSource(t testing.TB) *Source {
	t.Helper()
	s, err := New(Config{Name: "kd100", Salt: vecSalt}, clockAt(recvAt))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func TestSignReferenceVector(t *testing.T) {
	param := string(readTestdata(t, "param.json"))
	if got := Sign(param, vecSalt); got != vecSign {
		t.Errorf("Sign = %s, want %s", got, vecSign)
	}
}

func TestSignIndependent(t *testing.T) {
	for _, tt := range []struct{ param, salt string }{
		{`{"status":"polling"}`, "s"},
		{`{"message":"中文 +&="}`, "盐"},
		{"", "x"},
	} {
		want := fmt.Sprintf("%X", md5.Sum([]byte(tt.param+tt.salt)))
		if got := Sign(tt.param, tt.salt); got != want {
			t.Errorf("Sign(%q, %q) = %s, want %s", tt.param, tt.salt, got, want)
		}
	}
}

func TestFormBody(t *testing.T) {
	param := string(readTestdata(t, "param.json"))
	v, err := url.ParseQuery(string(FormBody(param, vecSalt)))
	if err != nil {
		t.Fatal(err)
	}
	if v.Get("param") != param || v.Get("sign") != vecSign || len(v) != 2 {
		t.Fatalf("form %v", v)
	}
}

func TestNew(t *testing.T) {
	if _, err := New(Config{Name: "kd", Salt: vecSalt}, nil); err == nil || !strings.Contains(err.Error(), "clock") {
		t.Errorf("nil clock: %v", err)
	}
	if _, err := New(Config{Name: "kd"}, time.Now); err == nil || !strings.Contains(err.Error(), "salt: required") {
		t.Errorf("no salt: %v", err)
	}
	s, err := New(Config{Name: "kd", Salt: vecSalt}, time.Now)
	if err != nil || s.Name() != "kd" || s.Type() != "kuaidi100" {
		t.Fatalf("New: %v %+v", err, s)
	}
}

func formReq(body string) *platforms.Request {
	return &platforms.Request{Body: []byte(body)}
}

func TestVerify(t *testing.T) {
	param := string(readTestdata(t, "param.json"))
	enc := url.QueryEscape
	tests := []struct {
		name    string
		req     *platforms.Request
		wantIs  error
		wantMsg string
	}{
		{name: "reference vector", req: NewRequest(param, vecSalt, recvAt)},
		{name: "lowercase sign", req: formReq("param=" + enc(param) + "&sign=" + strings.ToLower(vecSign))},
		{name: "sign first, %20 for spaces", req: formReq("sign=" + vecSign + "&param=" + strings.ReplaceAll(enc(param), "+", "%20"))},
		{name: "extra fields ignored", req: formReq("param=" + enc(param) + "&sign=" + vecSign + "&other=1")},

		{name: "wrong salt", req: NewRequest(param, "other", recvAt), wantIs: ErrBadSignature},
		{name: "tampered param", req: formReq("param=" + enc(strings.Replace(param, `"5"`, `"3"`, 1)) + "&sign=" + vecSign), wantIs: ErrBadSignature},
		{name: "sign over the encoded param", req: formReq("param=" + enc(param) + "&sign=" + Sign(enc(param), vecSalt)), wantIs: ErrBadSignature},
		{name: "truncated sign", req: formReq("param=" + enc(param) + "&sign=" + vecSign[:30]), wantIs: ErrBadSignature},
		{name: "missing sign", req: formReq("param=" + enc(param)), wantIs: ErrMissingField, wantMsg: "sign"},
		{name: "empty sign", req: formReq("param=" + enc(param) + "&sign="), wantIs: ErrMissingField, wantMsg: "sign"},
		{name: "missing param", req: formReq("sign=" + Sign("", vecSalt)), wantIs: ErrMissingField, wantMsg: "param"},
		{name: "repeated param", req: formReq("param=" + enc(param) + "&param=%7B%7D&sign=" + vecSign), wantIs: ErrMissingField, wantMsg: "repeated"},
		{name: "repeated sign", req: formReq("param=" + enc(param) + "&sign=" + vecSign + "&sign=" + vecSign), wantIs: ErrMissingField, wantMsg: "repeated"},
		{name: "JSON body", req: formReq(param), wantIs: ErrMissingField},
		{name: "bad escape", req: formReq("param=%zz&sign=" + vecSign), wantIs: ErrMissingField, wantMsg: "not a URL-encoded form"},
		{name: "empty body", req: formReq(""), wantIs: ErrMissingField},
		{name: "nil request", req: nil, wantIs: ErrMissingField},
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
			if !errors.Is(err, platforms.ErrUnauthorized) || !errors.Is(err, tt.wantIs) {
				t.Errorf("error %q does not wrap ErrUnauthorized and %v", err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tt.wantMsg)
			}
			if strings.Contains(err.Error(), vecSalt) {
				t.Errorf("error %q leaks the salt", err)
			}
		})
	}
}

func TestRespond(t *testing.T) {
	tests := []struct {
		name       string
		o          platforms.Outcome
		wantStatus int
		wantBody   string
	}{
		{name: "accepted", o: platforms.Outcome{Status: 200, Accepted: 1}, wantStatus: 200, wantBody: `{"result":true,"returnCode":"200","message":"成功"}`},
		{name: "duplicate", o: platforms.Outcome{Status: 200, Duplicates: 1}, wantStatus: 200, wantBody: `{"result":true,"returnCode":"200","message":"成功"}`},
		{name: "zero outcome", o: platforms.Outcome{}, wantStatus: 200, wantBody: `{"result":true,"returnCode":"200","message":"成功"}`},
		{name: "bad sign: 200 in the failure form", o: platforms.Outcome{Status: 401, Err: fmt.Errorf("%w: %w", platforms.ErrUnauthorized, ErrBadSignature)}, wantStatus: 200,
			wantBody: `{"result":false,"returnCode":"500","message":"unauthorized: bad signature"}`},
		{name: "malformed", o: platforms.Outcome{Status: 400, Err: fmt.Errorf("%w: param: want a JSON object", platforms.ErrMalformed)}, wantStatus: 200,
			wantBody: `{"result":false,"returnCode":"500","message":"malformed: param: want a JSON object"}`},
		{name: "too large", o: platforms.Outcome{Status: 413}, wantStatus: 200, wantBody: `{"result":false,"returnCode":"500","message":"request entity too large"}`},
		{name: "not stored: 503 so it is retried", o: platforms.Outcome{Status: 503, Err: errors.New("dial postgres://tower:hunter2@db")}, wantStatus: 503,
			wantBody: `{"result":false,"returnCode":"500","message":"not stored; retry later"}`},
		{name: "zero status from error", o: platforms.Outcome{Err: fmt.Errorf("%w: x", platforms.ErrMalformed)}, wantStatus: 200,
			wantBody: `{"result":false,"returnCode":"500","message":"malformed: x"}`},
		{name: "zero status unknown error", o: platforms.Outcome{Err: errors.New("boom")}, wantStatus: 503,
			wantBody: `{"result":false,"returnCode":"500","message":"not stored; retry later"}`},
	}
	s := testSource(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			s.Respond(rec, tt.o)
			if rec.Code != tt.wantStatus || rec.Body.String() != tt.wantBody {
				t.Errorf("got %d %s\nwant %d %s", rec.Code, rec.Body, tt.wantStatus, tt.wantBody)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
	rec := httptest.NewRecorder()
	s.Respond(rec, platforms.Outcome{Status: 400, Err: errors.New(strings.Repeat("张", 1000))})
	var a Answer
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil || len(a.Message) > maxMessage+len("…") || strings.ContainsRune(a.Message, '\uFFFD') {
		t.Errorf("long message: %v, %d bytes", err, len(a.Message))
	}
}
