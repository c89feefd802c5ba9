package tmall_test

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms/platformtest"
	"github.com/towerhq/tower/internal/platforms/tmall"
	"github.com/towerhq/tower/internal/platforms/tmall/tmalltest"
	"github.com/towerhq/tower/internal/platforms/top"
	"github.com/towerhq/tower/internal/reconcile/pull"
	"github.com/towerhq/tower/internal/reconcile/pull/pulltest"
)

const (
	listKey    = "12345678"
	listSecret = "tmall-test-secret"
)

func listClient(o pull.Options, secret string) pull.Client {
	return tmall.NewClient(tmall.ClientConfig{Options: o, AppKey: listKey, AppSecret: secret})
}

// expect is what the client should report for o, written out
// independently of the client.
func expect(o platformtest.Order) pull.Snapshot {
	amt := o.Amount
	s := pull.Snapshot{Key: o.Key, UpdatedAt: o.UpdatedAt}
	add := func(k order.Kind, at time.Time, d order.Data) {
		s.Facts = append(s.Facts, pull.Fact{Kind: k, At: at, Data: d})
	}
	add(order.KindCreated, o.CreatedAt, order.Data{})
	if !o.PaidAt.IsZero() {
		add(order.KindPaid, o.PaidAt, order.Data{Amount: &amt, Currency: "CNY"})
	}
	switch o.Status {
	case "cancelled":
		add(order.KindCancelled, o.CancelledAt, order.Data{Reason: "TRADE_CLOSED_BY_TAOBAO"})
	case "refunded":
		add(order.KindCancelled, o.RefundedAt, order.Data{Reason: "TRADE_CLOSED"})
	}
	return s
}

func TestClient(t *testing.T) {
	cst := time.FixedZone("CST", 8*3600)
	pulltest.Run(t, pulltest.Case{
		Channel: order.ChannelTmall,
		Fake: func(s platformtest.Store, now func() time.Time) http.Handler {
			return tmalltest.NewOrderList(listKey, listSecret, s, now)
		},
		Client: listClient,
		Secret: listSecret, Wrong: "not-the-secret",
		RefusalCode: "25", RefusalText: "code 25",
		Expect: expect,
		Endless: func(w http.ResponseWriter, i int64, ts time.Time) {
			fmt.Fprintf(w, `{"trades_sold_increment_get_response":{"has_next":true,"trades":{"trade":[{"tid":%d,"status":"WAIT_BUYER_PAY","modified":"%s"}]}}}`,
				i, ts.In(cst).Format("2006-01-02 15:04:05"))
		},
	})
}

// TestTopMD5Vector is the reference's vector (connectors.md §2), through
// the signing the client uses.
func TestTopMD5Vector(t *testing.T) {
	params := map[string]string{
		"method": "taobao.trade.fullinfo.get", "app_key": "12345678", "session": "test",
		"timestamp": "2026-01-01 12:00:00", "format": "json", "v": "2.0", "sign_method": "md5",
		"fields": "tid,status,payment", "tid": "1234567890",
	}
	const want = "CF54D34B2B9F06C8A1889B6F6D0219BF"
	got, err := top.Sign(params, nil, "helloworld", "md5")
	if err != nil || got != want {
		t.Errorf("top.Sign = %s, %v; want %s", got, err, want)
	}
	if got := topMD5ByHand(params, "helloworld"); got != want {
		t.Errorf("by hand = %s, want %s", got, want)
	}
}

// topMD5ByHand is the TOP md5 rule written independently of package top.
func topMD5ByHand(params map[string]string, secret string) string {
	var keys []string
	for k, v := range params {
		if k != "sign" && k != "" && v != "" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(secret)
	for _, k := range keys {
		b.WriteString(k + params[k])
	}
	b.WriteString(secret)
	sum := md5.Sum([]byte(b.String()))
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// TestClientRequestOnTheWire checks the request against the platform's
// rules by hand, independent of the fake (which shares the client's
// signing code).
func TestClientRequestOnTheWire(t *testing.T) {
	var method, path, contentType, body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		method, path, contentType, body = r.Method, r.URL.EscapedPath(), r.Header.Get("Content-Type"), string(b)
		io.WriteString(w, `{"trades_sold_increment_get_response":{"has_next":false}}`)
	}))
	defer srv.Close()
	c := tmall.NewClient(tmall.ClientConfig{AppKey: listKey, AppSecret: listSecret, Session: "sess",
		Options: pull.Options{BaseURL: srv.URL, HTTPClient: srv.Client(), Now: pulltest.Clock}})
	if _, err := c.List(t.Context(), pulltest.T0, pulltest.T0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if method != "POST" || path != "/router/rest" || !strings.HasPrefix(contentType, "application/x-www-form-urlencoded") {
		t.Errorf("%s %s %s", method, path, contentType)
	}
	form, _ := url.ParseQuery(body)
	params := map[string]string{}
	for k := range form {
		params[k] = form.Get(k)
	}
	for k, v := range map[string]string{"method": "taobao.trades.sold.increment.get", "app_key": listKey,
		"timestamp": "2026-11-11 22:30:00", "format": "json", "v": "2.0", "sign_method": "md5", "session": "sess",
		"fields":         "tid,status,payment,created,pay_time,modified,end_time",
		"start_modified": "2026-11-11 21:00:00", "end_modified": "2026-11-11 22:00:00",
		"page_no": "1", "page_size": "100", "use_has_next": "true"} {
		if params[k] != v {
			t.Errorf("param %s = %q, want %q", k, params[k], v)
		}
	}
	if want := topMD5ByHand(params, listSecret); params["sign"] != want {
		t.Errorf("sign %s, want %s", params["sign"], want)
	}
}

// tid comes as a JSON number, which must not pass through float64.
func TestClientKeepsIDsExact(t *testing.T) {
	const answer = `{"trades_sold_increment_get_response":{"has_next":false,"trades":{"trade":[{"tid":4000000000000000123,"status":"TRADE_CLOSED","payment":"129.9","created":"2025-11-25 00:00:00","pay_time":"2025-11-25 00:01:40","modified":"2025-11-25 00:30:00"}]}}}`
	const want = "tmall/4000000000000000123 updated 2025-11-24T16:30:00Z\n  order.created at 2025-11-24T16:00:00Z\n  order.paid at 2025-11-24T16:01:40Z amount 129.90 CNY\n  order.cancelled at 2025-11-24T16:30:00Z reason \"TRADE_CLOSED\"\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, answer) }))
	defer srv.Close()
	start := time.Date(2025, 11, 24, 0, 0, 0, 0, time.UTC)
	got, err := listClient(pull.Options{BaseURL: srv.URL, HTTPClient: srv.Client(), Now: pulltest.Clock}, listSecret).
		List(t.Context(), start, start.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if g := pulltest.Render(got); g != want {
		t.Errorf("got:\n%s\nwant:\n%s", g, want)
	}
}
