package douyintest_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms/douyin"
	"github.com/towerhq/tower/internal/platforms/douyin/douyintest"
	"github.com/towerhq/tower/internal/platforms/platformtest"
	"github.com/towerhq/tower/internal/reconcile/pull"
	"github.com/towerhq/tower/internal/reconcile/pull/pulltest"
)

const dyKey, dySecret = "7000000000000000001", "douyin-test-secret"

var t0, now = pulltest.T0, pulltest.FakeNow

func server(t *testing.T) *httptest.Server {
	return pulltest.Serve(t, order.ChannelDouyin, func(s platformtest.Store, now func() time.Time) http.Handler {
		return douyintest.NewOrderList(dyKey, dySecret, s, now)
	})
}

func TestStaleTimestampsAreRefused(t *testing.T) {
	srv := server(t)
	late := func() time.Time { return now.Add(time.Hour) }
	c := douyin.NewClient(douyin.ClientConfig{Options: pull.Options{BaseURL: srv.URL, Now: late}, AppKey: dyKey, AppSecret: dySecret})
	if _, err := c.List(t.Context(), t0, t0.Add(time.Hour)); err == nil || !strings.Contains(err.Error(), "code 40005") {
		t.Errorf("err = %v, want code 40005", err)
	}
}

func TestRefusals(t *testing.T) {
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
	good := douyin.SignCall(dyKey, dySecret, "order.searchList", ts, pj)
	for _, tc := range []struct {
		name, query, body string
		code              string
	}{
		{"signed", query(dyKey, "order.searchList", good), pj, "10000"},
		{"no sign", query(dyKey, "order.searchList", ""), pj, "40001"},
		{"unknown app", query("1", "order.searchList", good), pj, "40004"},
		{"body changed after signing", query(dyKey, "order.searchList", good), strings.Replace(pj, `"size":10`, `"size":11`, 1), "40003"},
		{"other method", query(dyKey, "order.detail", douyin.SignCall(dyKey, dySecret, "order.detail", ts, pj)), pj, "40006"},
		{"bad param_json", query(dyKey, "order.searchList", douyin.SignCall(dyKey, dySecret, "order.searchList", ts, "{}")), "{}", "40002"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := pulltest.PostJSON(t, srv.URL+"/order/searchList?"+tc.query, "application/json", tc.body)
			if fmt.Sprint(m["code"]) != tc.code {
				t.Errorf("answer %s, want code %s", m["_raw"], tc.code)
			}
			if tc.code == "10000" && !strings.Contains(m["_raw"].(string), `"order_id":"4000000000000000123"`) {
				t.Errorf("answer %s lacks the order", m["_raw"])
			}
		})
	}
}
