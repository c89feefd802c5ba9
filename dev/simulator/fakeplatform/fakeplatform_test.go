package fakeplatform_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/towerhq/tower/dev/simulator/fakeplatform"
	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms/top"
	"github.com/towerhq/tower/internal/reconcile/pull"
)

const (
	dyKey, dySecret = "7000000000000000001", "douyin-test-secret"
	tmKey, tmSecret = "12345678", "tmall-test-secret"
	mpSecret        = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)

var (
	cst = time.FixedZone("CST", 8*3600)
	t0  = time.Date(2026, 11, 11, 21, 0, 0, 0, cst)
	now = t0.Add(2 * time.Hour)
)

func server(t *testing.T) *httptest.Server {
	t.Helper()
	s := &fakeplatform.MemStore{}
	for _, ch := range []string{order.ChannelDouyin, order.ChannelTmall, order.ChannelMiniProgram} {
		s.Put(fakeplatform.Order{Key: order.Key{Channel: ch, OrderNo: "4000000000000000123"}, Status: fakeplatform.StatusPaid,
			CreatedAt: t0, PaidAt: t0.Add(time.Minute), UpdatedAt: t0.Add(time.Minute), Amount: 12990})
	}
	srv := httptest.NewServer(fakeplatform.NewMux(fakeplatform.MuxConfig{
		DouyinAppKey: dyKey, DouyinAppSecret: dySecret, TmallAppKey: tmKey, TmallAppSecret: tmSecret,
		MiniProgramSecret: mpSecret, Now: func() time.Time { return now },
	}, s))
	t.Cleanup(srv.Close)
	return srv
}

func TestStaleTimestampsAreRefused(t *testing.T) {
	srv := server(t)
	late := func() time.Time { return now.Add(time.Hour) }
	for _, tc := range []struct {
		c    pull.Client
		want string
	}{
		{pull.NewDouyin(pull.Config{BaseURL: srv.URL + "/douyin", AppKey: dyKey, AppSecret: dySecret, Now: late}), "code 40005"},
		{pull.NewTmall(pull.Config{BaseURL: srv.URL + "/tmall", AppKey: tmKey, AppSecret: tmSecret, Now: late}), "code 43"},
		{pull.NewMiniProgram(pull.Config{BaseURL: srv.URL + "/miniprogram", AppSecret: mpSecret, Now: late}), "code stale_timestamp"},
	} {
		_, err := tc.c.List(t.Context(), t0, t0.Add(time.Hour))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err = %v, want %s", err, tc.want)
		}
	}
}

func post(t *testing.T, u, contentType, body string) map[string]any {
	t.Helper()
	resp, err := http.Post(u, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatalf("answer %s: %v", b, err)
	}
	m["_raw"] = string(b)
	return m
}

func TestDouyinRefusals(t *testing.T) {
	srv := server(t)
	ts := strconv.FormatInt(now.Unix(), 10)
	pj := `{"order_asc":true,"order_by":"update_time","page":0,"size":10,"update_time_end":` +
		strconv.FormatInt(t0.Add(time.Hour).Unix(), 10) + `,"update_time_start":` + strconv.FormatInt(t0.Unix(), 10) + `}`
	query := func(key, method, sign string) string {
		q := url.Values{"app_key": {key}, "method": {method}, "timestamp": {ts}, "v": {"2"}, "sign_method": {"hmac-sha256"}}
		if sign != "" {
			q.Set("sign", sign)
		}
		return q.Encode()
	}
	good := pull.DouyinSign(dyKey, dySecret, "order.searchList", ts, pj)
	for _, tc := range []struct {
		name, query, body string
		code              string
	}{
		{"signed", query(dyKey, "order.searchList", good), pj, "10000"},
		{"no sign", query(dyKey, "order.searchList", ""), pj, "40001"},
		{"unknown app", query("1", "order.searchList", good), pj, "40004"},
		{"body changed after signing", query(dyKey, "order.searchList", good), strings.Replace(pj, `"size":10`, `"size":11`, 1), "40003"},
		{"other method", query(dyKey, "order.detail", pull.DouyinSign(dyKey, dySecret, "order.detail", ts, pj)), pj, "40006"},
		{"bad param_json", query(dyKey, "order.searchList", pull.DouyinSign(dyKey, dySecret, "order.searchList", ts, "{}")), "{}", "40002"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := post(t, srv.URL+"/douyin/order/searchList?"+tc.query, "application/json", tc.body)
			if fmt.Sprint(m["code"]) != tc.code {
				t.Errorf("answer %s, want code %s", m["_raw"], tc.code)
			}
			if tc.code == "10000" && !strings.Contains(m["_raw"].(string), `"order_id":"4000000000000000123"`) {
				t.Errorf("answer %s lacks the order", m["_raw"])
			}
		})
	}
}

func TestTmallRefusalsAndShape(t *testing.T) {
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
			m := post(t, srv.URL+"/tmall/router/rest", "application/x-www-form-urlencoded", tc.body)
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

func TestMiniProgramRefusals(t *testing.T) {
	srv := server(t)
	ts := strconv.FormatInt(now.Unix(), 10)
	q := url.Values{"updated_from": {t0.Format(time.RFC3339)}, "updated_to": {t0.Add(time.Hour).Format(time.RFC3339)}, "limit": {"10"}}.Encode()
	sig := func(id, query string) string {
		s, err := pull.MiniProgramSign(mpSecret, id, ts, "/miniprogram/orders", query)
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
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/miniprogram/orders?"+tc.query, nil)
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

func TestMemStore(t *testing.T) {
	var s fakeplatform.MemStore
	if got := s.Orders(order.ChannelDouyin, t0, now); len(got) != 0 {
		t.Fatalf("empty store listed %v", got)
	}
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			s.Put(fakeplatform.Order{Key: order.Key{Channel: order.ChannelDouyin, OrderNo: fmt.Sprint(i)},
				UpdatedAt: t0.Add(time.Duration(i) * time.Minute)})
			_ = s.Orders(order.ChannelDouyin, t0, now)
		})
	}
	wg.Wait()
	got := s.Orders(order.ChannelDouyin, t0.Add(10*time.Minute), t0.Add(20*time.Minute))
	if len(got) != 10 || got[0].Key.OrderNo != "10" || got[9].Key.OrderNo != "19" {
		t.Errorf("[10m, 20m) listed %d orders: %v", len(got), got)
	}
	if len(s.Orders(order.ChannelTmall, t0, now)) != 0 {
		t.Error("another channel's orders listed")
	}
	s.Put(fakeplatform.Order{Key: order.Key{Channel: order.ChannelDouyin, OrderNo: "10"}, UpdatedAt: now})
	s.Delete(order.Key{Channel: order.ChannelDouyin, OrderNo: "11"})
	if got := s.Orders(order.ChannelDouyin, t0.Add(10*time.Minute), t0.Add(20*time.Minute)); len(got) != 8 || s.Len() != 49 {
		t.Errorf("after replace and delete: %d listed, %d held", len(got), s.Len())
	}
}

// The standalone handlers serve at the root, without a clock.
func TestStandaloneHandlers(t *testing.T) {
	var s fakeplatform.MemStore
	s.Put(fakeplatform.Order{Key: order.Key{Channel: order.ChannelTmall, OrderNo: "T-1"}, Status: fakeplatform.StatusCancelled,
		CreatedAt: t0, CancelledAt: t0.Add(time.Minute), UpdatedAt: t0.Add(time.Minute)})
	srv := httptest.NewServer(fakeplatform.NewTmall(tmKey, tmSecret, &s))
	defer srv.Close()
	old := func() time.Time { return t0.Add(-72 * time.Hour) } // no clock: any timestamp passes
	got, err := pull.NewTmall(pull.Config{BaseURL: srv.URL, AppKey: tmKey, AppSecret: tmSecret, Now: old}).
		List(t.Context(), t0, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Key.OrderNo != "T-1" || len(got[0].Facts) != 2 ||
		got[0].Facts[1].Kind != order.KindCancelled || got[0].Facts[1].Data.Reason != pull.TmallStatusClosedByTaobao {
		t.Errorf("listed %+v", got)
	}
	_, err = pull.NewTmall(pull.Config{BaseURL: srv.URL, AppKey: tmKey, AppSecret: "x", Now: old}).
		List(t.Context(), t0, t0.Add(time.Hour))
	var ae *pull.APIError
	if !errors.As(err, &ae) || ae.Code != "25" {
		t.Errorf("err = %v, want code 25", err)
	}
}
