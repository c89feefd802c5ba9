package standardtest_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
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

const mpSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

var t0, now = pulltest.T0, pulltest.FakeNow

func server(t *testing.T) *httptest.Server {
	return pulltest.Serve(t, order.ChannelMiniProgram, func(s platformtest.Store, now func() time.Time) http.Handler {
		return standardtest.NewOrderList(mpSecret, s, now)
	})
}

func TestStaleTimestampsAreRefused(t *testing.T) {
	srv := server(t)
	late := func() time.Time { return now.Add(time.Hour) }
	c := standard.NewClient(standard.ClientConfig{Options: pull.Options{BaseURL: srv.URL, Now: late}, Secret: mpSecret})
	if _, err := c.List(t.Context(), t0, t0.Add(time.Hour)); err == nil || !strings.Contains(err.Error(), "code stale_timestamp") {
		t.Errorf("err = %v, want code stale_timestamp", err)
	}
}

// Mounted under a prefix, the fake still checks the path the client signed.
func TestSignedPathUnderAPrefix(t *testing.T) {
	s := &platformtest.MemStore{}
	srv := httptest.NewServer(platformtest.NewMux(s, func() time.Time { return now }, standardtest.OrderList(mpSecret)))
	defer srv.Close()
	c := standard.NewClient(standard.ClientConfig{Options: pull.Options{BaseURL: srv.URL + "/miniprogram", Now: func() time.Time { return now }}, Secret: mpSecret})
	if _, err := c.List(t.Context(), t0, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
}

func TestRefusals(t *testing.T) {
	srv := server(t)
	ts := strconv.FormatInt(now.Unix(), 10)
	q := url.Values{"updated_from": {t0.Format(time.RFC3339)}, "updated_to": {t0.Add(time.Hour).Format(time.RFC3339)}, "limit": {"10"}}.Encode()
	sig := func(id, query string) string {
		s, err := standard.SignList(mpSecret, id, ts, "/orders", query)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, tc := range []struct {
		name, query, sig string
		status           int
	}{
		{"signed", q, sig("m1", q), 200},
		{"rotated keys: any v1 entry", q, "v1,AAAA " + sig("m1", q), 200},
		{"query changed after signing", q + "&cursor=x", sig("m1", q), 401},
		{"no signature", q, "", 401},
		{"signed for another id", q, sig("m2", q), 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/orders?"+tc.query, nil)
			req.Header.Set("webhook-id", "m1")
			req.Header.Set("webhook-timestamp", ts)
			if tc.sig != "" {
				req.Header.Set("webhook-signature", tc.sig)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("HTTP %d %s, want %d", resp.StatusCode, b, tc.status)
			}
			if tc.status == 200 && !strings.Contains(string(b), `"paidAt":"2026-11-11T21:01:00+08:00"`) {
				t.Errorf("answer %s", b)
			}
		})
	}
}
