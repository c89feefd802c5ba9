package qimen

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

// The reference's computed vector (platforms.md §4).
const (
	vecSecret     = "qimen-test-secret"
	vecAppKey     = "23456789"
	vecCustomerID = "C1001"
	vecSign       = "943C77801461551D8DB1BE71F22974F0"
)

var vecParams = map[string]string{
	"method": "taobao.qimen.deliveryorder.confirm", "app_key": vecAppKey, "customerId": vecCustomerID,
	"format": "xml", "sign_method": "md5", "timestamp": "2026-11-24 20:00:00", "v": "2.0",
}

// vecTime is the vector's timestamp, 2026-11-24 20:00:00 GMT+8.
var vecTime = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func clockAt(t time.Time) func() time.Time { return func() time.Time { return t } }

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testConfig() Config {
	return Config{Name: "wms", AppKey: vecAppKey, AppSecret: vecSecret, CustomerID: vecCustomerID}
}

func mustNew(t testing.TB, cfg Config, now func() time.Time) *Source {
	t.Helper()
	s, err := New(cfg, now)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testSource(t testing.TB) *Source { return mustNew(t, testConfig(), clockAt(vecTime)) }

func vecQuery() url.Values {
	q := url.Values{}
	for k, v := range vecParams {
		q.Set(k, v)
	}
	q.Set("sign", vecSign)
	return q
}

func TestSignReferenceVector(t *testing.T) {
	body := readTestdata(t, "confirm.xml")
	if got := Sign(vecParams, body, vecSecret); got != vecSign {
		t.Errorf("Sign = %s, want %s", got, vecSign)
	}
	// sign itself is never part of the signed string.
	withSign := map[string]string{"sign": "ANYTHING"}
	for k, v := range vecParams {
		withSign[k] = v
	}
	if got := Sign(withSign, body, vecSecret); got != vecSign {
		t.Errorf("Sign with a sign param = %s, want %s", got, vecSign)
	}
}

// The same rule without a body is the TOP md5 sign; the §2 vector pins
// this copy to connectors/top's.
func TestSignTOPVector(t *testing.T) {
	params := map[string]string{
		"method": "taobao.trade.fullinfo.get", "app_key": "12345678", "session": "test",
		"timestamp": "2026-01-01 12:00:00", "format": "json", "v": "2.0", "sign_method": "md5",
		"fields": "tid,status,payment", "tid": "1234567890",
	}
	if got := signMD5(params, nil, "helloworld"); got != "CF54D34B2B9F06C8A1889B6F6D0219BF" {
		t.Errorf("signMD5 = %s", got)
	}
}

// independentSign computes the sign from a literal concatenation, a code
// path sharing nothing with signMD5.
func independentSign(secret, sorted, body string) string {
	return fmt.Sprintf("%X", md5.Sum([]byte(secret+sorted+body+secret)))
}

func TestSignIndependent(t *testing.T) {
	tests := []struct {
		name   string
		params map[string]string
		body   string
		sorted string // the expected k+v string
	}{
		{
			name:   "reference params",
			params: vecParams, body: string(readTestdata(t, "confirm.xml")),
			sorted: "app_key23456789customerIdC1001formatxmlmethodtaobao.qimen.deliveryorder.confirmsign_methodmd5timestamp2026-11-24 20:00:00v2.0",
		},
		{
			name:   "uppercase sorts before lowercase, empty values skipped",
			params: map[string]string{"b": "2", "B": "1", "a": "", "": "x", "sign": "S", "c": "中文 &=?"},
			body:   `{"x":1}`,
			sorted: "B1b2c中文 &=?",
		},
		{name: "no params, no body", params: nil, body: "", sorted: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := independentSign("s3cret", tt.sorted, tt.body)
			if got := Sign(tt.params, []byte(tt.body), "s3cret"); got != want {
				t.Errorf("Sign = %s, want %s", got, want)
			}
		})
	}
}

func TestEncodeBodyMatchesReference(t *testing.T) {
	req := ConfirmRequest{ConfirmOrder: ConfirmOrder{
		DeliveryOrder: DeliveryOrder{
			DeliveryOrderCode: "DO1001", WarehouseCode: "HZ-01", OrderType: "JYCK", Status: "DELIVERED",
			OutBizCode: "OB1", ConfirmType: "0", OrderConfirmTime: "2026-11-24 19:58:00",
		},
		Packages: []Package{{LogisticsCode: "SF", ExpressCode: "SF1234567890"}},
	}}
	b, err := EncodeBody(req, FormatXML)
	if err != nil {
		t.Fatal(err)
	}
	if want := readTestdata(t, "confirm.xml"); string(b) != string(want) {
		t.Fatalf("body\n got %s\nwant %s", b, want)
	}
	q := SignedQuery(Params{Method: vecParams["method"], AppKey: vecAppKey, CustomerID: vecCustomerID, Timestamp: vecTime}, b, vecSecret)
	if q.Get("sign") != vecSign {
		t.Errorf("SignedQuery sign = %s, want %s", q.Get("sign"), vecSign)
	}
	for k, v := range vecParams {
		if q.Get(k) != v {
			t.Errorf("query %s = %q, want %q", k, q.Get(k), v)
		}
	}
	if _, err := EncodeBody(req, "yaml"); err == nil {
		t.Error("EncodeBody accepted format yaml")
	}
}

func TestNew(t *testing.T) {
	good := testConfig()
	mod := func(f func(*Config)) Config { c := good; f(&c); return c }
	tests := []struct {
		name    string
		cfg     Config
		now     func() time.Time
		wantErr string
	}{
		{name: "ok", cfg: good, now: time.Now},
		{name: "ok with channel", cfg: mod(func(c *Config) { c.Channel = "tmall" }), now: time.Now},
		{name: "nil clock", cfg: good, wantErr: "clock"},
		{name: "no app key", cfg: mod(func(c *Config) { c.AppKey = "" }), now: time.Now, wantErr: "app_key: required"},
		{name: "no secret", cfg: mod(func(c *Config) { c.AppSecret = "" }), now: time.Now, wantErr: "app_secret: required"},
		{name: "no customer", cfg: mod(func(c *Config) { c.CustomerID = "" }), now: time.Now, wantErr: "customer_id: required"},
		{name: "long channel", cfg: mod(func(c *Config) { c.Channel = strings.Repeat("c", 33) }), now: time.Now, wantErr: "channel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.cfg, tt.now)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if s.Name() != "wms" || s.Type() != "qimen" {
					t.Fatalf("Name %q Type %q", s.Name(), s.Type())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), vecSecret) {
				t.Fatalf("error %q leaks the secret", err)
			}
		})
	}
}

func requestWith(q url.Values, body []byte) *platforms.Request {
	return &platforms.Request{Query: q, Body: body}
}

// rawRequest parses rawQuery as the server does (r.URL.Query(), which
// drops pairs it cannot decode).
func rawRequest(rawQuery string, body []byte) *platforms.Request {
	q, _ := url.ParseQuery(rawQuery)
	return &platforms.Request{Query: q, Body: body}
}

func TestVerify(t *testing.T) {
	body := readTestdata(t, "confirm.xml")
	signed := func(mod func(map[string]string), b []byte, secret string) url.Values {
		m := map[string]string{}
		for k, v := range vecParams {
			m[k] = v
		}
		mod(m)
		q := url.Values{}
		for k, v := range m {
			q.Set(k, v)
		}
		q.Set("sign", Sign(m, b, secret))
		return q
	}
	at := func(d time.Duration) url.Values {
		return signed(func(m map[string]string) { m["timestamp"] = FormatTime(vecTime.Add(d)) }, body, vecSecret)
	}
	with := func(k, v string) url.Values { q := vecQuery(); q.Set(k, v); return q }
	without := func(k string) url.Values { q := vecQuery(); q.Del(k); return q }
	tests := []struct {
		name    string
		req     *platforms.Request
		wantIs  error // nil: success
		wantMsg string
	}{
		{name: "reference vector", req: requestWith(vecQuery(), body)},
		{name: "lowercase sign", req: requestWith(with("sign", strings.ToLower(vecSign)), body)},
		{name: "short method name", req: requestWith(signed(func(m map[string]string) { m["method"] = "deliveryorder.confirm" }, body, vecSecret), body)},
		{name: "format json", req: requestWith(signed(func(m map[string]string) { m["format"] = "json" }, body, vecSecret), body)},
		{name: "edge: 10 minutes old", req: requestWith(at(-Tolerance), body)},
		{name: "edge: 10 minutes ahead", req: requestWith(at(Tolerance), body)},
		{name: "empty extra param is not signed (TOP rule)", req: requestWith(with("extra", ""), body)},
		{name: "plus-encoded space in timestamp", req: rawRequest(strings.ReplaceAll(vecQuery().Encode(), "%20", "+"), body)},
		{name: "percent-encoded space in timestamp", req: rawRequest(strings.ReplaceAll(vecQuery().Encode(), "+", "%20"), body)},

		{name: "wrong secret", req: requestWith(signed(func(map[string]string) {}, body, "other-secret"), body), wantIs: ErrBadSignature},
		{name: "tampered body", req: requestWith(vecQuery(), append([]byte(" "), body...)), wantIs: ErrBadSignature},
		{name: "empty body", req: requestWith(vecQuery(), nil), wantIs: ErrBadSignature},
		{name: "tampered method", req: requestWith(with("method", "taobao.qimen.orderprocess.report"), body), wantIs: ErrBadSignature},
		{name: "added param", req: requestWith(with("extra", "1"), body), wantIs: ErrBadSignature},
		{name: "format dropped", req: requestWith(without("format"), body), wantIs: ErrBadSignature},
		{name: "sign of another length", req: requestWith(with("sign", vecSign[:31]), body), wantIs: ErrBadSignature},
		{name: "sign_method hmac", req: requestWith(signed(func(m map[string]string) { m["sign_method"] = "hmac" }, body, vecSecret), body), wantIs: ErrBadSignature, wantMsg: `sign_method "hmac"`},
		{name: "wrong app key", req: requestWith(signed(func(m map[string]string) { m["app_key"] = "99999999" }, body, vecSecret), body), wantIs: ErrWrongAppKey},
		{name: "unknown customerId", req: requestWith(signed(func(m map[string]string) { m["customerId"] = "C2002" }, body, vecSecret), body), wantIs: ErrUnknownCustomer},
		{name: "customerId case differs", req: requestWith(signed(func(m map[string]string) { m["customerId"] = "c1001" }, body, vecSecret), body), wantIs: ErrUnknownCustomer},
		{name: "stale: 10m01s old", req: requestWith(at(-Tolerance-time.Second), body), wantIs: ErrStale},
		{name: "stale: 10m01s ahead", req: requestWith(at(Tolerance+time.Second), body), wantIs: ErrStale},
		{name: "replay a day later", req: requestWith(at(-24*time.Hour), body), wantIs: ErrStale},
		{name: "timestamp as unix seconds", req: requestWith(signed(func(m map[string]string) { m["timestamp"] = "1795521600" }, body, vecSecret), body), wantIs: platforms.ErrUnauthorized, wantMsg: "yyyy-MM-dd"},
		{name: "timestamp RFC 3339", req: requestWith(with("timestamp", "2026-11-24T20:00:00+08:00"), body), wantIs: platforms.ErrUnauthorized, wantMsg: "yyyy-MM-dd"},
		{name: "missing sign", req: requestWith(without("sign"), body), wantIs: ErrMissingParam, wantMsg: "sign"},
		{name: "empty sign", req: requestWith(with("sign", ""), body), wantIs: ErrMissingParam},
		{name: "missing app_key", req: requestWith(without("app_key"), body), wantIs: ErrMissingParam, wantMsg: "app_key"},
		{name: "missing customerId", req: requestWith(without("customerId"), body), wantIs: ErrMissingParam, wantMsg: "customerId"},
		{name: "missing timestamp", req: requestWith(without("timestamp"), body), wantIs: ErrMissingParam, wantMsg: "timestamp"},
		{name: "missing sign_method", req: requestWith(without("sign_method"), body), wantIs: ErrMissingParam, wantMsg: "sign_method"},
		{name: "repeated param", req: rawRequest(vecQuery().Encode()+"&method=x", body), wantIs: ErrMissingParam, wantMsg: "repeated"},
		{name: "undecodable pair dropped, unsigned extra", req: rawRequest(vecQuery().Encode()+"&x=%zz&y=1", body), wantIs: ErrBadSignature},
		{name: "no query", req: &platforms.Request{Body: body}, wantIs: ErrMissingParam},
		{name: "nil request", req: nil, wantIs: ErrMissingParam},
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
			if strings.Contains(err.Error(), vecSecret) {
				t.Errorf("error %q leaks the secret", err)
			}
		})
	}
}

func TestNewRequestVerifiesAndParses(t *testing.T) {
	s := testSource(t)
	for _, format := range []string{FormatXML, FormatJSON} {
		body, err := EncodeBody(ProcessReportRequest{
			Order:   ProcessOrder{OrderCode: "6921000000001", WarehouseCode: "HZ-01"},
			Process: Process{ProcessStatus: "PACKAGE", OperateTime: "2026-11-24 19:59:00"},
		}, format)
		if err != nil {
			t.Fatal(err)
		}
		r := NewRequest(Params{Method: "taobao.qimen.orderprocess.report", AppKey: vecAppKey, CustomerID: vecCustomerID, Format: format, Timestamp: vecTime}, body, vecSecret)
		if err := s.Verify(r); err != nil {
			t.Fatalf("%s: Verify: %v", format, err)
		}
		d, err := s.Parse(r)
		if err != nil {
			t.Fatalf("%s: Parse: %v", format, err)
		}
		if len(d.Events) != 1 || d.Events[0].Kind != "wms.packed" || len(d.Flagged) != 0 {
			t.Fatalf("%s: %+v", format, d)
		}
	}
}

func TestRespond(t *testing.T) {
	unauthorized := fmt.Errorf("%w: %w", platforms.ErrUnauthorized, ErrBadSignature)
	tests := []struct {
		name       string
		o          platforms.Outcome
		wantStatus int
		wantBody   string
	}{
		{name: "accepted", o: platforms.Outcome{Status: 200, Accepted: 2}, wantStatus: 200,
			wantBody: `<response><flag>success</flag><code>0</code><message>ok</message></response>`},
		{name: "duplicates", o: platforms.Outcome{Status: 200, Duplicates: 2}, wantStatus: 200,
			wantBody: `<response><flag>success</flag><code>0</code><message>ok</message></response>`},
		{name: "zero status success", o: platforms.Outcome{}, wantStatus: 200,
			wantBody: `<response><flag>success</flag><code>0</code><message>ok</message></response>`},
		{name: "bad sign answered 200 failure", o: platforms.Outcome{Status: 401, Err: unauthorized}, wantStatus: 200,
			wantBody: `<response><flag>failure</flag><code>BAD_SIGNATURE</code><message>unauthorized: bad signature</message></response>`},
		{name: "unknown customer", o: platforms.Outcome{Status: 401, Err: fmt.Errorf("%w: %w", platforms.ErrUnauthorized, ErrUnknownCustomer)}, wantStatus: 200,
			wantBody: `<response><flag>failure</flag><code>UNKNOWN_CUSTOMER</code><message>unauthorized: unknown customerId</message></response>`},
		{name: "malformed, escaped", o: platforms.Outcome{Status: 400, Err: fmt.Errorf("%w: method \"<x>&\" not understood", platforms.ErrMalformed)}, wantStatus: 200,
			wantBody: `<response><flag>failure</flag><code>MALFORMED</code><message>malformed: method &#34;&lt;x&gt;&amp;&#34; not understood</message></response>`},
		{name: "too large", o: platforms.Outcome{Status: 413}, wantStatus: 200,
			wantBody: `<response><flag>failure</flag><code>TOO_LARGE</code><message>request entity too large</message></response>`},
		{name: "not stored: 503 so the gateway retries", o: platforms.Outcome{Status: 503, Err: errors.New("dial postgres://tower:hunter2@db")}, wantStatus: 503,
			wantBody: `<response><flag>failure</flag><code>UNAVAILABLE</code><message>not stored; retry later</message></response>`},
		{name: "zero status from error", o: platforms.Outcome{Err: unauthorized}, wantStatus: 200,
			wantBody: `<response><flag>failure</flag><code>BAD_SIGNATURE</code><message>unauthorized: bad signature</message></response>`},
		{name: "zero status unknown error", o: platforms.Outcome{Err: errors.New("boom")}, wantStatus: 503,
			wantBody: `<response><flag>failure</flag><code>UNAVAILABLE</code><message>not stored; retry later</message></response>`},
	}
	s := testSource(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			s.Respond(rec, tt.o)
			if rec.Code != tt.wantStatus {
				t.Errorf("status %d, want %d", rec.Code, tt.wantStatus)
			}
			if got := rec.Body.String(); got != tt.wantBody {
				t.Errorf("body\n got %s\nwant %s", got, tt.wantBody)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/xml") {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}

func TestRespondFormatJSON(t *testing.T) {
	rec := httptest.NewRecorder()
	RespondFormat(rec, platforms.Outcome{Status: 200, Accepted: 1}, FormatJSON)
	if rec.Code != 200 || rec.Body.String() != `{"response":{"flag":"success","code":"0","message":"ok"}}` {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	RespondFormat(rec, platforms.Outcome{Status: 503}, FormatJSON)
	var got struct{ Response Response }
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if rec.Code != 503 || got.Response.Flag != "failure" || got.Response.Code != CodeUnavailable {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
}

func TestRespondTruncatesLongMessages(t *testing.T) {
	rec := httptest.NewRecorder()
	RespondFormat(rec, platforms.Outcome{Status: 400, Err: errors.New(strings.Repeat("张", 1000))}, FormatJSON)
	var got struct{ Response Response }
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Response.Message) > maxMessage+len("…") || strings.ContainsRune(got.Response.Message, '\uFFFD') {
		t.Fatalf("message of %d bytes: %q", len(got.Response.Message), got.Response.Message[:20])
	}
}
