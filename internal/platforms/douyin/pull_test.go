package douyin_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms/douyin"
	"github.com/towerhq/tower/internal/platforms/douyin/douyintest"
	"github.com/towerhq/tower/internal/platforms/platformtest"
	"github.com/towerhq/tower/internal/reconcile/pull"
	"github.com/towerhq/tower/internal/reconcile/pull/pulltest"
)

const (
	listKey    = "7000000000000000001"
	listSecret = "douyin-test-secret"
)

func listClient(o pull.Options, secret string) pull.Client {
	return douyin.NewClient(douyin.ClientConfig{Options: o, AppKey: listKey, AppSecret: secret})
}

// expect is what the client should report for o, written out
// independently of the client.
func expect(o platformtest.Order) pull.Snapshot {
	amt := func() *order.Money { m := o.Amount; return &m }
	s := pull.Snapshot{Key: o.Key, UpdatedAt: o.UpdatedAt}
	add := func(k order.Kind, at time.Time, d order.Data) {
		s.Facts = append(s.Facts, pull.Fact{Kind: k, At: at, Data: d})
	}
	withAmount := order.Data{Amount: amt(), Currency: "CNY"}
	add(order.KindCreated, o.CreatedAt, withAmount)
	if !o.PaidAt.IsZero() {
		add(order.KindPaid, o.PaidAt, withAmount)
	}
	switch o.Status {
	case "cancelled":
		add(order.KindCancelled, o.UpdatedAt, order.Data{Reason: o.CancelReason})
	case "refunded":
		add(order.KindCancelled, o.UpdatedAt, order.Data{Reason: "refund"})
	}
	return s
}

func TestClient(t *testing.T) {
	pulltest.Run(t, pulltest.Case{
		Channel: order.ChannelDouyin,
		Fake: func(s platformtest.Store, now func() time.Time) http.Handler {
			return douyintest.NewOrderList(listKey, listSecret, s, now)
		},
		Client: listClient,
		Secret: listSecret, Wrong: "not-the-secret",
		RefusalCode: "40003", RefusalText: "code 40003",
		Expect: expect,
		Endless: func(w http.ResponseWriter, i int64, ts time.Time) {
			fmt.Fprintf(w, `{"code":10000,"msg":"success","data":{"shop_order_list":[{"order_id":"%d","order_status":1,"create_time":%d,"update_time":%d}],"total":1000000000,"page":0,"size":1}}`,
				i, ts.Unix(), ts.Unix())
		},
	})
}

// churning moves the first order of its window out of it (updated after
// the window) after the first listing call, as happens when an order is
// updated while the listing runs.
type churning struct {
	*platformtest.MemStore
	calls atomic.Int32
}

func (c *churning) Orders(channel string, from, to time.Time) []platformtest.Order {
	os := c.MemStore.Orders(channel, from, to)
	if c.calls.Add(1) == 1 && len(os) > 0 {
		moved := os[0]
		moved.UpdatedAt = pulltest.Now
		c.Put(moved)
	}
	return os
}

func TestClientListingSurvivesChurn(t *testing.T) {
	s := &churning{MemStore: &platformtest.MemStore{}}
	fixture := pulltest.Fixture(order.ChannelDouyin, "")
	for _, o := range fixture {
		s.Put(o)
	}
	srv := httptest.NewServer(douyintest.NewOrderList(listKey, listSecret, s, pulltest.Clock))
	defer srv.Close()
	t0 := pulltest.T0
	got, err := listClient(pull.Options{BaseURL: srv.URL, PageSize: 2, HTTPClient: srv.Client(), Now: pulltest.Clock}, listSecret).
		List(t.Context(), t0, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// Order 7 was listed on page 0 and then left the window; plain offset
	// paging would then skip order 2 (shifted from page 1 to page 0).
	found := map[string]bool{}
	for _, s := range got {
		found[s.Key.OrderNo] = true
	}
	for i, o := range fixture[:7] {
		if !found[o.Key.OrderNo] {
			t.Errorf("order %d (%s) missed", i+1, o.Key.OrderNo)
		}
	}
}

// TestSignCallVector pins SignCall to the doudian SDK's rule, built by
// hand here. The hex value was also computed with Python's hmac module.
func TestSignCallVector(t *testing.T) {
	const (
		appKey    = listKey
		appSecret = listSecret
		method    = "order.searchList"
		timestamp = "1764000000"
		paramJSON = `{"order_asc":true,"order_by":"update_time","page":0,"size":100,"update_time_end":1764003600,"update_time_start":1764000000}`
		want      = "b4085127a225c1f19e0b912f6cd9478c69c89be455bdf4255a88007c645dc127"
	)
	str := fmt.Sprintf("%sapp_key%smethod%sparam_json%stimestamp%sv2%s", appSecret, appKey, method, paramJSON, timestamp, appSecret)
	m := hmac.New(sha256.New, []byte(appSecret))
	m.Write([]byte(str))
	byHand := hex.EncodeToString(m.Sum(nil))
	if byHand != want {
		t.Fatalf("hand-built sign %s, documented %s", byHand, want)
	}
	if got := douyin.SignCall(appKey, appSecret, method, timestamp, paramJSON); got != want {
		t.Errorf("SignCall = %s, want %s", got, want)
	}
	pj, err := douyin.ParamJSON(map[string]any{
		"update_time_start": 1764000000, "update_time_end": 1764003600, "size": 100, "page": 0,
		"order_by": "update_time", "order_asc": true,
	})
	if err != nil || pj != paramJSON {
		t.Errorf("ParamJSON = %s, %v; want %s", pj, err, paramJSON)
	}
	if pj, _ := douyin.ParamJSON(map[string]any{"a": "<&>"}); pj != `{"a":"<&>"}` {
		t.Errorf("ParamJSON escapes HTML: %s", pj)
	}
}

// TestClientRequestOnTheWire checks the request against the platform's
// rules by hand, independent of the fake (which shares the client's
// signing code).
func TestClientRequestOnTheWire(t *testing.T) {
	var method, path, rawQuery, body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		method, path, rawQuery, body = r.Method, r.URL.EscapedPath(), r.URL.RawQuery, string(b)
		io.WriteString(w, `{"code":10000,"msg":"success","data":{"shop_order_list":[],"total":0,"page":0,"size":50}}`)
	}))
	defer srv.Close()
	from, to := pulltest.T0, pulltest.T0.Add(time.Hour)
	c := douyin.NewClient(douyin.ClientConfig{AppKey: listKey, AppSecret: listSecret, AccessToken: "tok",
		Options: pull.Options{BaseURL: srv.URL, PageSize: 50, HTTPClient: srv.Client(), Now: pulltest.Clock}})
	if _, err := c.List(t.Context(), from, to); err != nil {
		t.Fatal(err)
	}
	q, _ := url.ParseQuery(rawQuery)
	wantBody := fmt.Sprintf(`{"order_asc":true,"order_by":"update_time","page":0,"size":50,"update_time_end":%d,"update_time_start":%d}`, to.Unix(), from.Unix())
	if method != "POST" || path != "/order/searchList" || body != wantBody {
		t.Errorf("%s %s body %s; want POST /order/searchList body %s", method, path, body, wantBody)
	}
	ts := fmt.Sprint(pulltest.Now.Unix())
	for k, v := range map[string]string{"app_key": listKey, "method": "order.searchList", "timestamp": ts,
		"v": "2", "sign_method": "hmac-sha256", "access_token": "tok"} {
		if q.Get(k) != v {
			t.Errorf("query %s = %q, want %q", k, q.Get(k), v)
		}
	}
	m := hmac.New(sha256.New, []byte(listSecret))
	fmt.Fprintf(m, "%sapp_key%smethod%sparam_json%stimestamp%sv2%s", listSecret, listKey, "order.searchList", wantBody, ts, listSecret)
	if want := hex.EncodeToString(m.Sum(nil)); q.Get("sign") != want {
		t.Errorf("sign %s, want %s", q.Get("sign"), want)
	}
}

// A numeric order_id must not pass through float64.
func TestClientKeepsIDsExact(t *testing.T) {
	const answer = `{"code":10000,"data":{"shop_order_list":[{"order_id":6921000000000000123,"order_status":2,"create_time":1764000000,"pay_time":1764000100,"update_time":1764000100,"pay_amount":12990,"shop_id":1000}],"total":1}}`
	const want = "douyin/6921000000000000123 updated 2025-11-24T16:01:40Z\n  order.created at 2025-11-24T16:00:00Z shop 1000\n  order.paid at 2025-11-24T16:01:40Z amount 129.90 CNY shop 1000\n"
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
