package standard_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms/platformtest"
	"github.com/towerhq/tower/internal/platforms/standard"
	"github.com/towerhq/tower/internal/platforms/standard/standardtest"
	"github.com/towerhq/tower/internal/reconcile/pull"
	"github.com/towerhq/tower/internal/reconcile/pull/pulltest"
)

// listSecret is the Standard Webhooks documentation key.
const listSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func listClient(o pull.Options, secret string) pull.Client {
	return standard.NewClient(standard.ClientConfig{Options: o, Secret: secret})
}

// expect is what the client should report for o, written out
// independently of the client.
func expect(o platformtest.Order) pull.Snapshot {
	amt := o.Amount
	withAmount := order.Data{Amount: &amt, Currency: "CNY"}
	s := pull.Snapshot{Key: o.Key, UpdatedAt: o.UpdatedAt}
	add := func(k order.Kind, at time.Time, d order.Data) {
		if !at.IsZero() {
			s.Facts = append(s.Facts, pull.Fact{Kind: k, At: at, Data: d})
		}
	}
	add(order.KindCreated, o.CreatedAt, withAmount)
	add(order.KindPaid, o.PaidAt, withAmount)
	add(order.KindCancelled, o.CancelledAt, order.Data{})
	add(order.KindRefundCompleted, o.RefundedAt, order.Data{})
	return s
}

func TestClient(t *testing.T) {
	pulltest.Run(t, pulltest.Case{
		Channel:       order.ChannelMiniProgram,
		OrderNoPrefix: "MP",
		Fake: func(s platformtest.Store, now func() time.Time) http.Handler {
			return standardtest.NewOrderList(listSecret, s, now)
		},
		Client: listClient,
		Secret: listSecret, Wrong: "whsec_" + base64.StdEncoding.EncodeToString([]byte("another key, 24 bytes..")),
		RefusalCode: "invalid_signature", RefusalText: "HTTP 401",
		Expect: expect,
		Endless: func(w http.ResponseWriter, i int64, ts time.Time) {
			fmt.Fprintf(w, `{"orders":[{"orderNo":"MP%d","status":"created","updatedAt":"%s"}],"nextCursor":"c%d"}`,
				i, ts.Format(time.RFC3339), i)
		},
	})
}

// TestSignListVector checks SignList against a hand-built HMAC (the value
// also computed with Python's hmac module).
func TestSignListVector(t *testing.T) {
	const (
		id    = "msg_p5jXN8AQM9LWM0D4loKWxJek"
		ts    = "1614265330"
		path  = "/orders"
		query = "limit=100&updated_from=2026-11-11T13%3A00%3A00Z&updated_to=2026-11-11T14%3A00%3A00Z"
		want  = "v1,hKr82Cak1BUl3T3sy+18dIodB56tyra6wnK2XhwY8l4="
	)
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(listSecret, "whsec_"))
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s.%s.%s?%s", id, ts, path, query)
	if byHand := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil)); byHand != want {
		t.Fatalf("hand-built %s, documented %s", byHand, want)
	}
	got, err := standard.SignList(listSecret, id, ts, path, query)
	if err != nil || got != want {
		t.Errorf("SignList = %s, %v; want %s", got, err, want)
	}
	if _, err := standard.SignList("whsec_not base64!", id, ts, path, query); err == nil {
		t.Error("a secret that is not base64 was accepted")
	}
}

// TestClientRequestOnTheWire checks the request against the contract by
// hand, independent of the fake (which shares the client's signing code).
func TestClientRequestOnTheWire(t *testing.T) {
	var method, path, rawQuery string
	var header http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method, path, rawQuery, header = r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Clone()
		fmt.Fprint(w, `{"orders":[],"nextCursor":null}`)
	}))
	defer srv.Close()
	c := standard.NewClient(standard.ClientConfig{Secret: listSecret,
		Options: pull.Options{BaseURL: srv.URL + "/api/v1", PageSize: 20, HTTPClient: srv.Client(), Now: pulltest.Clock}})
	if _, err := c.List(t.Context(), pulltest.T0, pulltest.T0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	q, _ := url.ParseQuery(rawQuery)
	if method != "GET" || path != "/api/v1/orders" || q.Get("updated_from") != "2026-11-11T13:00:00Z" ||
		q.Get("updated_to") != "2026-11-11T14:00:00Z" || q.Get("limit") != "20" || q.Has("cursor") {
		t.Errorf("%s %s?%s", method, path, rawQuery)
	}
	id, ts := header.Get("webhook-id"), header.Get("webhook-timestamp")
	if id == "" || ts != fmt.Sprint(pulltest.Now.Unix()) {
		t.Errorf("webhook-id %q, webhook-timestamp %q", id, ts)
	}
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(listSecret, "whsec_"))
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s.%s.%s?%s", id, ts, path, rawQuery)
	if want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil)); header.Get("webhook-signature") != want {
		t.Errorf("webhook-signature %s, want %s", header.Get("webhook-signature"), want)
	}
}
