package tmalltest_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
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

const tmKey, tmSecret = "12345678", "tmall-test-secret"

var t0, now = pulltest.T0, pulltest.FakeNow

func server(t *testing.T) *httptest.Server {
	return pulltest.Serve(t, order.ChannelTmall, func(s platformtest.Store, now func() time.Time) http.Handler {
		return tmalltest.NewOrderList(tmKey, tmSecret, s, now)
	})
}

func TestStaleTimestampsAreRefused(t *testing.T) {
	srv := server(t)
	late := func() time.Time { return now.Add(time.Hour) }
	c := tmall.NewClient(tmall.ClientConfig{Options: pull.Options{BaseURL: srv.URL, Now: late}, AppKey: tmKey, AppSecret: tmSecret})
	if _, err := c.List(t.Context(), t0, t0.Add(time.Hour)); err == nil || !strings.Contains(err.Error(), "code 43") {
		t.Errorf("err = %v, want code 43", err)
	}
}

func TestRefusalsAndShape(t *testing.T) {
	srv := server(t)
	params := func(mod func(map[string]string)) map[string]string {
		p := map[string]string{
			"method": "taobao.trades.sold.increment.get", "app_key": tmKey, "timestamp": top.FormatTime(now),
			"format": "json", "v": "2.0", "sign_method": "hmac-sha256", "fields": "tid,status,payment,pay_time",
			"start_modified": "2026-11-11 21:00:00", "end_modified": "2026-11-11 22:00:00",
		}
		if mod != nil {
			mod(p)
		}
		return p
	}
	form := func(p map[string]string, sign bool) string {
		v := url.Values{}
		for k, x := range p {
			v.Set(k, x)
		}
		if sign {
			s, err := top.Sign(p, nil, tmSecret, p["sign_method"])
			if err != nil {
				t.Fatal(err)
			}
			v.Set("sign", s)
		}
		return v.Encode()
	}
	for _, tc := range []struct {
		name, body string
		code       string
	}{
		{"signed", form(params(nil), true), ""},
		{"unsigned", form(params(nil), false), "40"},
		{"wrong secret", form(params(nil), false) + "&sign=CF54D34B2B9F06C8A1889B6F6D0219BF", "25"},
		{"unknown app", form(params(func(p map[string]string) { p["app_key"] = "1" }), true), "29"},
		{"other method", form(params(func(p map[string]string) { p["method"] = "taobao.trade.fullinfo.get" }), true), "22"},
		{"repeated parameter", form(params(nil), true) + "&v=2.0", "41"},
		{"window over a day", form(params(func(p map[string]string) { p["end_modified"] = "2026-11-12 21:00:01" }), true), "41"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := pulltest.PostJSON(t, srv.URL+"/router/rest", "application/x-www-form-urlencoded", tc.body)
			raw := m["_raw"].(string)
			if tc.code == "" {
				// tid is a JSON number with all its digits; only the asked fields come back.
				want := `{"trades_sold_increment_get_response":{"total_results":1,"trades":{"trade":[` +
					`{"pay_time":"2026-11-11 21:01:00","payment":"129.90","status":"WAIT_SELLER_SEND_GOODS","tid":4000000000000000123}]}}}`
				if strings.TrimSpace(raw) != want {
					t.Errorf("answer %s\nwant %s", raw, want)
				}
				return
			}
			er, _ := m["error_response"].(map[string]any)
			if er == nil || fmt.Sprint(er["code"]) != tc.code {
				t.Errorf("answer %s, want error_response code %s", raw, tc.code)
			}
		})
	}
}

// Without a clock the fake takes any timestamp.
func TestWithoutClock(t *testing.T) {
	var s platformtest.MemStore
	s.Put(platformtest.Order{Key: order.Key{Channel: order.ChannelTmall, OrderNo: "T-1"}, Status: platformtest.StatusCancelled,
		CreatedAt: t0, CancelledAt: t0.Add(time.Minute), UpdatedAt: t0.Add(time.Minute)})
	srv := httptest.NewServer(tmalltest.NewOrderList(tmKey, tmSecret, &s, nil))
	defer srv.Close()
	old := func() time.Time { return t0.Add(-72 * time.Hour) } // no clock: any timestamp passes
	got, err := tmall.NewClient(tmall.ClientConfig{Options: pull.Options{BaseURL: srv.URL, Now: old}, AppKey: tmKey, AppSecret: tmSecret}).
		List(t.Context(), t0, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Key.OrderNo != "T-1" || len(got[0].Facts) != 2 ||
		got[0].Facts[1].Kind != order.KindCancelled || got[0].Facts[1].Data.Reason != tmall.StatusClosedByTaobao {
		t.Errorf("listed %+v", got)
	}
	_, err = tmall.NewClient(tmall.ClientConfig{Options: pull.Options{BaseURL: srv.URL, Now: old}, AppKey: tmKey, AppSecret: "x"}).
		List(t.Context(), t0, t0.Add(time.Hour))
	var ae *pull.APIError
	if !errors.As(err, &ae) || ae.Code != "25" {
		t.Errorf("err = %v, want code 25", err)
	}
}
