package standard

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms"
)

// The official Standard Webhooks test vector.
const (
	vecSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vecID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vecTS     = int64(1614265330)
	vecBody   = `{"test": 2432232314}`
	vecSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func clockAt(unix int64) func() time.Time {
	return func() time.Time { return time.Unix(unix, 0) }
}

func newSecret(t testing.TB) string {
	t.Helper()
	k := make([]byte, 24)
	rand.Read(k)
	return SecretPrefix + base64.StdEncoding.EncodeToString(k)
}

func mustNew(t testing.TB, cfg Config, now func() time.Time) *Source {
	t.Helper()
	s, err := New(cfg, now)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func mustSign(t testing.TB, secret, id string, ts int64, body []byte) string {
	t.Helper()
	sig, err := Sign(secret, id, ts, body)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return sig
}

func request(id, ts, sig string, body []byte) *platforms.Request {
	h := http.Header{}
	if id != "" {
		h.Set(HeaderID, id)
	}
	if ts != "" {
		h.Set(HeaderTimestamp, ts)
	}
	if sig != "" {
		h.Set(HeaderSignature, sig)
	}
	return &platforms.Request{Header: h, Body: body}
}

func TestOfficialVector(t *testing.T) {
	got, err := Sign(vecSecret, vecID, vecTS, []byte(vecBody))
	if err != nil {
		t.Fatal(err)
	}
	if got != vecSig {
		t.Fatalf("Sign = %q, want %q", got, vecSig)
	}
	s := mustNew(t, Config{Name: "erp", Secrets: []string{vecSecret}}, clockAt(vecTS))
	if err := s.Verify(request(vecID, strconv.FormatInt(vecTS, 10), vecSig, []byte(vecBody))); err != nil {
		t.Fatalf("Verify official vector: %v", err)
	}
	if s.Name() != "erp" || s.Type() != "standard" {
		t.Fatalf("Name/Type = %q/%q", s.Name(), s.Type())
	}
}

func TestNew(t *testing.T) {
	good := newSecret(t)
	short := SecretPrefix + base64.StdEncoding.EncodeToString(make([]byte, 15))
	now := clockAt(vecTS)
	tests := []struct {
		name    string
		cfg     Config
		now     func() time.Time
		wantErr string // substring; "" means success
		secret  string // must not appear in the error
	}{
		{name: "ok", cfg: Config{Name: "erp", Secrets: []string{good}}, now: now},
		{name: "ok 16-byte key", cfg: Config{Secrets: []string{SecretPrefix + base64.StdEncoding.EncodeToString(make([]byte, 16))}}, now: now},
		{name: "several ok", cfg: Config{Secrets: []string{vecSecret, good}}, now: now},
		{name: "no secrets", cfg: Config{Name: "erp"}, now: now, wantErr: "at least one"},
		{name: "empty secrets slice", cfg: Config{Secrets: []string{}}, now: now, wantErr: "at least one"},
		{name: "no prefix", cfg: Config{Secrets: []string{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}, now: now, wantErr: "secrets[0]", secret: "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
		{name: "bad base64 second", cfg: Config{Secrets: []string{good, "whsec_not*base64!!topsecret"}}, now: now, wantErr: "secrets[1]", secret: "topsecret"},
		{name: "url base64", cfg: Config{Secrets: []string{"whsec_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_"}}, now: now, wantErr: "secrets[0]", secret: "-_-_-_"},
		{name: "short key third", cfg: Config{Secrets: []string{good, good, short}}, now: now, wantErr: "secrets[2]", secret: strings.TrimPrefix(short, SecretPrefix)},
		{name: "empty secret", cfg: Config{Secrets: []string{""}}, now: now, wantErr: "secrets[0]"},
		{name: "nil clock", cfg: Config{Secrets: []string{good}}, wantErr: "clock"},
		{name: "negative tolerance", cfg: Config{Secrets: []string{good}, Tolerance: -time.Second}, now: now, wantErr: "tolerance"},
		{name: "negative max events", cfg: Config{Secrets: []string{good}, MaxEvents: -1}, now: now, wantErr: "max events"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.cfg, tt.now)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if s.tolerance != DefaultTolerance || s.maxEvents != DefaultMaxEvents {
					t.Fatalf("defaults not applied: %v %d", s.tolerance, s.maxEvents)
				}
				return
			}
			if err == nil {
				t.Fatalf("New succeeded, want error containing %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %q does not contain %q", err, tt.wantErr)
			}
			if tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
				t.Fatalf("error %q leaks the secret", err)
			}
		})
	}
}

func TestNewKeepsOverrides(t *testing.T) {
	s := mustNew(t, Config{Secrets: []string{vecSecret}, Tolerance: time.Minute, MaxEvents: 7}, clockAt(0))
	if s.tolerance != time.Minute || s.maxEvents != 7 {
		t.Fatalf("tolerance %v maxEvents %d", s.tolerance, s.maxEvents)
	}
}

func TestVerify(t *testing.T) {
	const now = int64(1_790_000_000)
	old1, old2, current := newSecret(t), newSecret(t), newSecret(t)
	other := newSecret(t)
	body := []byte(`{"id":"evt-1","type":"order.paid"}`)
	ts := strconv.FormatInt(now, 10)
	sigCurrent := mustSign(t, current, "msg_1", now, body)
	sigOther := mustSign(t, other, "msg_1", now, body)
	sigOld2 := mustSign(t, old2, "msg_1", now, body)
	at := func(d int64) (string, string) {
		return strconv.FormatInt(now+d, 10), mustSign(t, current, "msg_1", now+d, body)
	}
	tsOld, sigOldTS := at(-301)
	tsNew, sigNewTS := at(301)
	tsEdgeOld, sigEdgeOld := at(-300)
	tsEdgeNew, sigEdgeNew := at(300)

	tests := []struct {
		name        string
		req         *platforms.Request
		wantIs      error  // nil means success
		wantMessage string // substring of the error
	}{
		{name: "valid", req: request("msg_1", ts, sigCurrent, body)},
		{name: "rotation: second secret among several entries", req: request("msg_1", ts, sigOther+" "+sigOld2, body)},
		{name: "rotation: match is last of three entries", req: request("msg_1", ts, sigOther+" "+sigOther+" "+sigCurrent, body)},
		{name: "other versions ignored", req: request("msg_1", ts, "v1a,c2lnbmF0dXJl v2,xyz nocomma "+sigCurrent, body)},
		{name: "extra spaces", req: request("msg_1", ts, "  "+sigOther+"   "+sigCurrent+" ", body)},
		{name: "edge: exactly tolerance old", req: request("msg_1", tsEdgeOld, sigEdgeOld, body)},
		{name: "edge: exactly tolerance new", req: request("msg_1", tsEdgeNew, sigEdgeNew, body)},
		{name: "empty body signed", req: request("msg_1", ts, mustSign(t, current, "msg_1", now, nil), nil)},

		{name: "wrong secret", req: request("msg_1", ts, sigOther, body), wantIs: ErrBadSignature, wantMessage: "bad signature"},
		{name: "tampered body", req: request("msg_1", ts, sigCurrent, append(append([]byte{}, body...), ' ')), wantIs: ErrBadSignature},
		{name: "tampered id", req: request("msg_2", ts, sigCurrent, body), wantIs: ErrBadSignature},
		{name: "tampered timestamp", req: request("msg_1", strconv.FormatInt(now+1, 10), sigCurrent, body), wantIs: ErrBadSignature},
		{name: "signature without version", req: request("msg_1", ts, strings.TrimPrefix(sigCurrent, "v1,"), body), wantIs: ErrBadSignature, wantMessage: "no \"v1"},
		{name: "only other versions", req: request("msg_1", ts, "v1a,"+strings.TrimPrefix(sigCurrent, "v1,"), body), wantIs: ErrBadSignature},
		{name: "malformed base64", req: request("msg_1", ts, "v1,not*base64", body), wantIs: ErrBadSignature, wantMessage: "base64"},
		{name: "malformed entry beside a good one", req: request("msg_1", ts, sigCurrent+" v1,%%%", body), wantIs: ErrBadSignature},
		{name: "short signature", req: request("msg_1", ts, "v1,c2lnbmF0dXJl", body), wantIs: ErrBadSignature, wantMessage: "want 32"},
		{name: "missing webhook-id", req: request("", ts, sigCurrent, body), wantIs: ErrMissingHeader, wantMessage: "webhook-id"},
		{name: "missing webhook-timestamp", req: request("msg_1", "", sigCurrent, body), wantIs: ErrMissingHeader, wantMessage: "webhook-timestamp"},
		{name: "missing webhook-signature", req: request("msg_1", ts, "", body), wantIs: ErrMissingHeader, wantMessage: "webhook-signature"},
		{name: "no headers at all", req: &platforms.Request{Body: body}, wantIs: ErrMissingHeader, wantMessage: "webhook-id"},
		{name: "timestamp not an integer", req: request("msg_1", "1790000000.5", sigCurrent, body), wantIs: platforms.ErrUnauthorized, wantMessage: "not an integer"},
		{name: "timestamp text", req: request("msg_1", "yesterday", sigCurrent, body), wantIs: platforms.ErrUnauthorized, wantMessage: "not an integer"},
		{name: "timestamp overflow", req: request("msg_1", "99999999999999999999", sigCurrent, body), wantIs: platforms.ErrUnauthorized, wantMessage: "not an integer"},
		{name: "stale: too old", req: request("msg_1", tsOld, sigOldTS, body), wantIs: ErrStale, wantMessage: "timestamp outside tolerance"},
		{name: "stale: too new", req: request("msg_1", tsNew, sigNewTS, body), wantIs: ErrStale, wantMessage: "timestamp outside tolerance"},
		{name: "stale: far future", req: request("msg_1", "9223372036854775807", sigCurrent, body), wantIs: ErrStale},
		{name: "stale: far past", req: request("msg_1", "-9223372036854775808", sigCurrent, body), wantIs: ErrStale},
	}
	s := mustNew(t, Config{Name: "erp", Secrets: []string{old1, old2, current}}, clockAt(now))
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
			for _, sec := range []string{old1, old2, current} {
				if strings.Contains(err.Error(), strings.TrimPrefix(sec, SecretPrefix)) {
					t.Errorf("error %q leaks a secret", err)
				}
			}
		})
	}
}

func TestVerifyCustomTolerance(t *testing.T) {
	const now = int64(1_790_000_000)
	s := mustNew(t, Config{Secrets: []string{vecSecret}, Tolerance: 10 * time.Second}, clockAt(now))
	for _, d := range []int64{-11, 11} {
		ts := now + d
		err := s.Verify(request("m", strconv.FormatInt(ts, 10), mustSign(t, vecSecret, "m", ts, nil), nil))
		if !errors.Is(err, ErrStale) {
			t.Errorf("skew %ds: err = %v, want ErrStale", d, err)
		}
	}
	if err := s.Verify(request("m", strconv.FormatInt(now-10, 10), mustSign(t, vecSecret, "m", now-10, nil), nil)); err != nil {
		t.Errorf("skew -10s: %v", err)
	}
}

func TestSignRejectsBadSecret(t *testing.T) {
	for _, sec := range []string{"", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_***", "whsec_AAAA"} {
		if _, err := Sign(sec, "m", 1, nil); err == nil {
			t.Errorf("Sign(%q) succeeded", sec)
		} else if len(sec) > 6 && strings.Contains(err.Error(), sec[6:]) {
			t.Errorf("Sign error %q leaks the secret", err)
		}
	}
}

func TestParseSignatureHeader(t *testing.T) {
	sig32 := base64.StdEncoding.EncodeToString(make([]byte, 32))
	tests := []struct {
		name    string
		header  string
		want    int // number of signatures; -1 means error
		wantErr string
	}{
		{name: "official", header: vecSig, want: 1},
		{name: "two v1", header: vecSig + " v1," + sig32, want: 2},
		{name: "mixed versions", header: "v1a,abc " + vecSig + " v2," + sig32, want: 1},
		{name: "tabs and spaces", header: "\t" + vecSig + "  v1," + sig32 + " ", want: 2},
		{name: "empty", header: "", want: -1, wantErr: "no \"v1"},
		{name: "blank", header: "   ", want: -1, wantErr: "no \"v1"},
		{name: "no comma", header: "v1" + sig32, want: -1, wantErr: "no \"v1"},
		{name: "only v1a", header: "v1a," + sig32, want: -1, wantErr: "no \"v1"},
		{name: "uppercase version", header: "V1," + sig32, want: -1},
		{name: "bad base64", header: "v1,@@@@", want: -1, wantErr: "entry 0"},
		{name: "bad base64 second entry", header: vecSig + " v1,@@@@", want: -1, wantErr: "entry 1"},
		{name: "url base64", header: "v1," + strings.NewReplacer("+", "-", "/", "_").Replace(strings.TrimPrefix(vecSig, "v1,")), want: -1, wantErr: "base64"},
		{name: "missing padding", header: strings.TrimSuffix(vecSig, "="), want: -1, wantErr: "base64"},
		{name: "empty signature", header: "v1,", want: -1, wantErr: "0 bytes"},
		{name: "wrong length", header: "v1," + base64.StdEncoding.EncodeToString(make([]byte, 20)), want: -1, wantErr: "20 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSignatureHeader(tt.header)
			if tt.want < 0 {
				if err == nil {
					t.Fatalf("ParseSignatureHeader(%q) = %d sigs, want error", tt.header, len(got))
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %q does not contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSignatureHeader: %v", err)
			}
			if len(got) != tt.want {
				t.Fatalf("got %d signatures, want %d", len(got), tt.want)
			}
			for _, s := range got {
				if len(s) != 32 {
					t.Fatalf("signature of %d bytes", len(s))
				}
			}
		})
	}
}

func TestRespond(t *testing.T) {
	fieldErr := fmt.Errorf("%w: %w", platforms.ErrMalformed, &order.FieldError{Field: "events[3].type", Reason: `unknown event type "order.foo"`})
	tests := []struct {
		name       string
		o          platforms.Outcome
		wantStatus int
		wantBody   string // exact JSON, compared after decoding
		notContain string
	}{
		{name: "accepted", o: platforms.Outcome{Status: 200, Accepted: 3, Duplicates: 1}, wantStatus: 200, wantBody: `{"accepted":3,"duplicates":1}`},
		{name: "all duplicates", o: platforms.Outcome{Status: 200, Duplicates: 2}, wantStatus: 200, wantBody: `{"accepted":0,"duplicates":2}`},
		{name: "zero status success", o: platforms.Outcome{Accepted: 1}, wantStatus: 200, wantBody: `{"accepted":1,"duplicates":0}`},
		{name: "202 answered 200", o: platforms.Outcome{Status: 202, Accepted: 1}, wantStatus: 200, wantBody: `{"accepted":1,"duplicates":0}`},
		{
			name: "malformed with field", o: platforms.Outcome{Status: 400, Err: fieldErr}, wantStatus: 400,
			wantBody: `{"error":{"code":"MALFORMED","message":"malformed: events[3].type: unknown event type \"order.foo\"","field":"events[3].type"}}`,
		},
		{
			name: "malformed without field", o: platforms.Outcome{Status: 400, Err: fmt.Errorf("%w: invalid JSON at byte 3", platforms.ErrMalformed)}, wantStatus: 400,
			wantBody: `{"error":{"code":"MALFORMED","message":"malformed: invalid JSON at byte 3"}}`,
		},
		{
			name: "unauthorized", o: platforms.Outcome{Status: 401, Err: fmt.Errorf("%w: %w", platforms.ErrUnauthorized, ErrBadSignature)}, wantStatus: 401,
			wantBody: `{"error":{"code":"BAD_SIGNATURE","message":"unauthorized: bad signature"}}`,
		},
		{
			name: "too large", o: platforms.Outcome{Status: 413, Err: errors.New("body larger than 1048576 bytes")}, wantStatus: 413,
			wantBody: `{"error":{"code":"TOO_LARGE","message":"body larger than 1048576 bytes"}}`,
		},
		{
			name: "unavailable hides cause", o: platforms.Outcome{Status: 503, Err: errors.New("dial postgres://tower:hunter2@db:5432: refused")}, wantStatus: 503,
			wantBody: `{"error":{"code":"UNAVAILABLE","message":"not stored; retry later"}}`, notContain: "hunter2",
		},
		{
			name: "unavailable never names a field", o: platforms.Outcome{Status: 503, Err: fieldErr}, wantStatus: 503,
			wantBody: `{"error":{"code":"UNAVAILABLE","message":"not stored; retry later"}}`,
		},
		{
			name: "zero status derives from error", o: platforms.Outcome{Err: fieldErr}, wantStatus: 400,
			wantBody: `{"error":{"code":"MALFORMED","message":"malformed: events[3].type: unknown event type \"order.foo\"","field":"events[3].type"}}`,
		},
		{
			name: "zero status unauthorized", o: platforms.Outcome{Err: fmt.Errorf("%w: x", platforms.ErrUnauthorized)}, wantStatus: 401,
			wantBody: `{"error":{"code":"BAD_SIGNATURE","message":"unauthorized: x"}}`,
		},
		{
			name: "error status without error", o: platforms.Outcome{Status: 413}, wantStatus: 413,
			wantBody: `{"error":{"code":"TOO_LARGE","message":"request entity too large"}}`,
		},
	}
	s := mustNew(t, Config{Name: "erp", Secrets: []string{vecSecret}}, clockAt(0))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			s.Respond(rec, tt.o)
			if rec.Code != tt.wantStatus {
				t.Errorf("status %d, want %d", rec.Code, tt.wantStatus)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
			var got, want any
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if err := json.Unmarshal([]byte(tt.wantBody), &want); err != nil {
				t.Fatal(err)
			}
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(want)
			if string(gb) != string(wb) {
				t.Errorf("body\n got %s\nwant %s", gb, wb)
			}
			if tt.notContain != "" && strings.Contains(rec.Body.String(), tt.notContain) {
				t.Errorf("body %q contains %q", rec.Body, tt.notContain)
			}
			if strings.Contains(rec.Body.String(), strings.TrimPrefix(vecSecret, SecretPrefix)) {
				t.Errorf("body echoes the secret")
			}
		})
	}
}

func TestRespondTruncatesLongMessages(t *testing.T) {
	s := mustNew(t, Config{Secrets: []string{vecSecret}}, clockAt(0))
	rec := httptest.NewRecorder()
	s.Respond(rec, platforms.Outcome{Status: 400, Err: fmt.Errorf("%w: %s", platforms.ErrMalformed, strings.Repeat("张", 1000))})
	var b ErrorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatal(err)
	}
	if len(b.Error.Message) > maxMessage+len("…") {
		t.Fatalf("message of %d bytes", len(b.Error.Message))
	}
	if strings.ContainsRune(b.Error.Message, '\uFFFD') {
		t.Fatal("message split a UTF-8 sequence")
	}
}
