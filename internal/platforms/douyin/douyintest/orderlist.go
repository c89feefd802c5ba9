// Package douyintest fakes Douyin Shop for tests and the simulator, as
// net/http/httptest fakes a server for net/http: its order.searchList API
// (NewOrderList), which reconciliation's client pulls, answering from a
// platformtest.Store.
package douyintest

import (
	"bytes"
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms/douyin"
	"github.com/towerhq/tower/internal/platforms/platformtest"
)

// Refusal codes, as order.searchList answers them (HTTP 200, {"code":<n>,
// "msg":…,"sub_code":…,"sub_msg":…,"log_id":…,"data":{}}).
const (
	MissingParameter = 40001
	InvalidParameter = 40002
	InvalidSignature = 40003
	InvalidAppKey    = 40004
	InvalidTimestamp = 40005
	MethodNotFound   = 40006
)

// Douyin order_status values the fake answers with.
const (
	statusCreated   = 1 // 待支付 / awaiting payment
	statusPaid      = 2 // 备货中 / preparing
	statusCancelled = 4 // 已取消 / cancelled
)

// Tolerance is how far a request timestamp may be from the fake's clock.
const Tolerance = 10 * time.Minute

type orderList struct {
	appKey, appSecret string
	store             platformtest.Store
	now               func() time.Time
}

// NewOrderList is a fake of Douyin Shop's order.searchList: POST
// /order/searchList with the query app_key, method=order.searchList,
// timestamp, v=2, sign_method=hmac-sha256, sign (douyin.SignCall over the
// raw body) and optionally access_token, body = param_json with page (from
// 0), size (1..100), update_time_start and update_time_end (unix seconds;
// the window is [start, end)), order_by (update_time or create_time) and
// order_asc. Status maps to order_status: created 1, paid 2 (备货中),
// cancelled and refunded 4 (refunded with cancel_reason "refund" unless the
// order has its own). It checks what the platform checks: the app key, the
// signature, the method and, with a clock, the timestamp (Tolerance).
func NewOrderList(appKey, appSecret string, s platformtest.Store, now func() time.Time) http.Handler {
	return &orderList{appKey: appKey, appSecret: appSecret, store: s, now: now}
}

// OrderList is NewOrderList for platformtest.NewMux, under /douyin.
func OrderList(appKey, appSecret string) platformtest.OrderList {
	return platformtest.OrderList{Path: "/douyin", New: func(s platformtest.Store, now func() time.Time) http.Handler {
		return NewOrderList(appKey, appSecret, s, now)
	}}
}

type wireOrder struct {
	OrderID         string `json:"order_id"`
	OrderStatus     int    `json:"order_status"`
	OrderStatusDesc string `json:"order_status_desc"`
	CreateTime      int64  `json:"create_time"`
	PayTime         int64  `json:"pay_time"`
	UpdateTime      int64  `json:"update_time"`
	PayAmount       int64  `json:"pay_amount"`
	OrderAmount     int64  `json:"order_amount"`
	CancelReason    string `json:"cancel_reason"`
	ShopID          int64  `json:"shop_id"`
}

type wireData struct {
	ShopOrderList []wireOrder `json:"shop_order_list"`
	Total         int         `json:"total"`
	Page          int64       `json:"page"`
	Size          int64       `json:"size"`
}

type wireAnswer struct {
	Code    int    `json:"code"`
	Msg     string `json:"msg"`
	SubCode string `json:"sub_code"`
	SubMsg  string `json:"sub_msg"`
	LogID   string `json:"log_id"`
	Data    any    `json:"data"`
}

func (h *orderList) refuse(w http.ResponseWriter, code int, subCode, msg string) {
	platformtest.WriteJSON(w, http.StatusOK, wireAnswer{Code: code, Msg: msg, SubCode: subCode, SubMsg: msg,
		LogID: platformtest.RequestID(), Data: struct{}{}})
}

func (h *orderList) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		h.refuse(w, InvalidParameter, "isv.invalid-http-method", "请使用POST请求 / use POST")
		return
	}
	q := r.URL.Query()
	for _, k := range []string{"app_key", "method", "timestamp", "v", "sign", "sign_method"} {
		if len(q[k]) != 1 || q.Get(k) == "" {
			h.refuse(w, MissingParameter, "isv.missing-parameter:"+k, "缺少参数 "+k+" / missing or repeated "+k)
			return
		}
	}
	if q.Get("app_key") != h.appKey {
		h.refuse(w, InvalidAppKey, "isv.invalid-app-key", "app_key不存在 / unknown app_key")
		return
	}
	if q.Get("v") != "2" {
		h.refuse(w, InvalidParameter, "isv.invalid-parameter:v", "v must be 2")
		return
	}
	if q.Get("sign_method") != "hmac-sha256" {
		h.refuse(w, InvalidParameter, "isv.invalid-parameter:sign_method", "sign_method must be hmac-sha256")
		return
	}
	ts, err := strconv.ParseInt(q.Get("timestamp"), 10, 64)
	if err != nil || !platformtest.Fresh(h.now, time.Unix(ts, 0), Tolerance) {
		h.refuse(w, InvalidTimestamp, "isv.invalid-timestamp", "timestamp无效 / timestamp not unix seconds near now")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, platformtest.MaxRequestBody+1))
	if err != nil || len(body) > platformtest.MaxRequestBody {
		h.refuse(w, InvalidParameter, "isv.invalid-parameter:param_json", "body unreadable or too large")
		return
	}
	// The signature covers the raw body bytes, never a re-serialisation.
	want := douyin.SignCall(h.appKey, h.appSecret, q.Get("method"), q.Get("timestamp"), string(body))
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(q.Get("sign")))) {
		h.refuse(w, InvalidSignature, "isv.invalid-signature", "签名错误 / invalid signature")
		return
	}
	method := q.Get("method")
	if method != douyin.MethodSearchList || r.URL.Path != "/"+strings.ReplaceAll(method, ".", "/") {
		h.refuse(w, MethodNotFound, "isv.method-not-found", fmt.Sprintf("method %q not served at %q", method, r.URL.Path))
		return
	}
	p, err := parseParams(body)
	if err != nil {
		h.refuse(w, InvalidParameter, "isv.invalid-parameter:param_json", err.Error())
		return
	}
	orders := h.store.Orders(order.ChannelDouyin, time.Unix(p.start, 0), time.Unix(p.end, 0))
	switch {
	case p.orderBy == "create_time":
		slices.SortStableFunc(orders, func(a, b platformtest.Order) int { return a.CreatedAt.Compare(b.CreatedAt) })
	default:
		platformtest.SortOrders(orders)
	}
	if !p.asc {
		slices.Reverse(orders)
	}
	data := wireData{ShopOrderList: []wireOrder{}, Total: len(orders), Page: p.page, Size: p.size}
	if lo := p.page * p.size; lo < int64(len(orders)) {
		hi := min(lo+p.size, int64(len(orders)))
		for _, o := range orders[lo:hi] {
			data.ShopOrderList = append(data.ShopOrderList, toWire(o))
		}
	}
	platformtest.WriteJSON(w, http.StatusOK, wireAnswer{Code: douyin.CallOK, Msg: "success", LogID: platformtest.RequestID(), Data: data})
}

type listParams struct {
	page, size, start, end int64
	orderBy                string
	asc                    bool
}

func parseParams(body []byte) (listParams, error) {
	var raw map[string]json.RawMessage
	d := json.NewDecoder(bytes.NewReader(body))
	if err := d.Decode(&raw); err != nil {
		return listParams{}, fmt.Errorf("param_json: %v", err)
	}
	num := func(k string, required bool, def int64) (int64, error) {
		v, ok := raw[k]
		if !ok {
			if required {
				return 0, fmt.Errorf("param_json: %s required", k)
			}
			return def, nil
		}
		s := strings.Trim(string(v), `"`)
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("param_json: %s: want an integer", k)
		}
		return n, nil
	}
	var p listParams
	var err error
	if p.page, err = num("page", true, 0); err != nil {
		return p, err
	}
	if p.size, err = num("size", true, 0); err != nil {
		return p, err
	}
	if p.start, err = num("update_time_start", true, 0); err != nil {
		return p, err
	}
	if p.end, err = num("update_time_end", true, 0); err != nil {
		return p, err
	}
	if p.page < 0 || p.size < 1 || p.size > 100 {
		return p, fmt.Errorf("param_json: page must be >= 0 and size 1..100")
	}
	if p.start > p.end {
		return p, fmt.Errorf("param_json: update_time_start after update_time_end")
	}
	p.orderBy = "update_time"
	if v, ok := raw["order_by"]; ok {
		if err := json.Unmarshal(v, &p.orderBy); err != nil || (p.orderBy != "update_time" && p.orderBy != "create_time") {
			return p, fmt.Errorf("param_json: order_by must be update_time or create_time")
		}
	}
	if v, ok := raw["order_asc"]; ok {
		if err := json.Unmarshal(v, &p.asc); err != nil {
			return p, fmt.Errorf("param_json: order_asc must be a boolean")
		}
	}
	return p, nil
}

func toWire(o platformtest.Order) wireOrder {
	d := wireOrder{
		OrderID:     o.Key.OrderNo,
		CreateTime:  unixOrZero(o.CreatedAt),
		PayTime:     unixOrZero(o.PaidAt),
		UpdateTime:  unixOrZero(o.UpdatedAt),
		PayAmount:   int64(o.Amount),
		OrderAmount: int64(o.Amount),
	}
	switch o.Status {
	case platformtest.StatusPaid:
		d.OrderStatus, d.OrderStatusDesc = statusPaid, "备货中"
	case platformtest.StatusCancelled, platformtest.StatusRefunded:
		d.OrderStatus, d.OrderStatusDesc = statusCancelled, "已取消"
		d.CancelReason = o.CancelReason
		if d.CancelReason == "" && o.Status == platformtest.StatusRefunded {
			d.CancelReason = "refund"
		}
	default:
		d.OrderStatus, d.OrderStatusDesc = statusCreated, "待支付"
	}
	return d
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}
