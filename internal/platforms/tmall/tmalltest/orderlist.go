// Package tmalltest fakes Taobao/Tmall for tests and the simulator: the TOP
// gateway serving taobao.trades.sold.increment.get (NewOrderList), which
// reconciliation's client pulls, answering from a platformtest.Store.
package tmalltest

import (
	"crypto/hmac"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms/platformtest"
	"github.com/towerhq/tower/internal/platforms/tmall"
	"github.com/towerhq/tower/internal/platforms/top"
)

// Refusal codes, as the TOP gateway answers them (HTTP 200,
// {"error_response":{"code":<n>,"msg":…,"sub_code":…,"sub_msg":…,"request_id":…}}).
const (
	InvalidMethod    = 22
	InvalidSignature = 25
	InvalidAppKey    = 29
	MissingArguments = 40
	InvalidArguments = 41
	InvalidTimestamp = 43
)

// Trade statuses the fake answers with.
const (
	statusWaitBuyerPay        = "WAIT_BUYER_PAY"
	statusWaitSellerSendGoods = "WAIT_SELLER_SEND_GOODS"
)

// Tolerance is how far a request timestamp may be from the fake's clock.
const Tolerance = 10 * time.Minute

type orderList struct {
	appKey, appSecret string
	store             platformtest.Store
	now               func() time.Time
}

// NewOrderList is a fake of the TOP gateway serving
// taobao.trades.sold.increment.get at /router/rest: parameters in the query
// or the form body (a parameter given twice is refused), signed the TOP way
// (md5, hmac or hmac-sha256 per sign_method); start_modified and
// end_modified ("yyyy-MM-dd HH:mm:ss", GMT+8, window [start, end), at most a
// day apart), page_no from 1, page_size 1..100 (default 40), fields (only
// the named trade fields are answered), use_has_next (has_next instead of
// total_results). tid is a JSON number when the order number is all digits,
// as on TOP. Status maps to WAIT_BUYER_PAY (created),
// WAIT_SELLER_SEND_GOODS (paid), TRADE_CLOSED (refunded, or cancelled after
// payment) and TRADE_CLOSED_BY_TAOBAO (cancelled before payment); end_time
// is the close time.
func NewOrderList(appKey, appSecret string, s platformtest.Store, now func() time.Time) http.Handler {
	return &orderList{appKey: appKey, appSecret: appSecret, store: s, now: now}
}

// OrderList is NewOrderList for platformtest.NewMux, under /tmall.
func OrderList(appKey, appSecret string) platformtest.OrderList {
	return platformtest.OrderList{Path: "/tmall", New: func(s platformtest.Store, now func() time.Time) http.Handler {
		return NewOrderList(appKey, appSecret, s, now)
	}}
}

type topError struct {
	Code      int    `json:"code"`
	Msg       string `json:"msg"`
	SubCode   string `json:"sub_code,omitempty"`
	SubMsg    string `json:"sub_msg,omitempty"`
	RequestID string `json:"request_id"`
}

func (h *orderList) refuse(w http.ResponseWriter, code int, msg, subCode, subMsg string) {
	platformtest.WriteJSON(w, http.StatusOK, map[string]topError{"error_response": {
		Code: code, Msg: msg, SubCode: subCode, SubMsg: subMsg, RequestID: platformtest.RequestID()}})
}

func (h *orderList) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/router/rest" {
		http.NotFound(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, platformtest.MaxRequestBody)
	if err := r.ParseForm(); err != nil {
		h.refuse(w, InvalidArguments, "Invalid arguments", "isv.invalid-parameter", "unreadable form")
		return
	}
	params := map[string]string{}
	for k, vs := range r.Form {
		if len(vs) != 1 {
			h.refuse(w, InvalidArguments, "Invalid arguments", "isv.invalid-parameter", "repeated parameter "+k)
			return
		}
		params[k] = vs[0]
	}
	for _, k := range []string{"method", "app_key", "timestamp", "sign", "sign_method", "v"} {
		if params[k] == "" {
			h.refuse(w, MissingArguments, "Missing required arguments:"+k, "", "")
			return
		}
	}
	if params["app_key"] != h.appKey {
		h.refuse(w, InvalidAppKey, "Invalid app Key", "", "")
		return
	}
	ts, err := topTime(params["timestamp"])
	if err != nil || !platformtest.Fresh(h.now, ts, Tolerance) {
		h.refuse(w, InvalidTimestamp, "Invalid timestamp", "", "")
		return
	}
	want, err := top.Sign(params, nil, h.appSecret, params["sign_method"])
	if err != nil {
		h.refuse(w, InvalidArguments, "Invalid arguments:sign_method", "", "")
		return
	}
	if !hmac.Equal([]byte(want), []byte(strings.ToUpper(params["sign"]))) {
		h.refuse(w, InvalidSignature, "Invalid signature", "", "")
		return
	}
	if params["method"] != tmall.MethodIncrementGet {
		h.refuse(w, InvalidMethod, "Invalid method", "", "")
		return
	}
	if f := params["format"]; f != "" && f != "json" {
		h.refuse(w, InvalidArguments, "Invalid arguments:format", "", "this fake answers json only")
		return
	}
	from, err1 := topTime(params["start_modified"])
	to, err2 := topTime(params["end_modified"])
	switch {
	case params["start_modified"] == "" || params["end_modified"] == "" || params["fields"] == "":
		h.refuse(w, MissingArguments, "Missing required arguments:start_modified,end_modified,fields", "", "")
		return
	case err1 != nil || err2 != nil || to.Before(from) || to.Sub(from) > 24*time.Hour:
		h.refuse(w, InvalidArguments, "Invalid arguments:start_modified,end_modified", "isv.invalid-parameter",
			"start_modified and end_modified must be yyyy-MM-dd HH:mm:ss, in order, at most one day apart")
		return
	}
	pageNo, err1 := platformtest.IntParam(params["page_no"], 1)
	pageSize, err2 := platformtest.IntParam(params["page_size"], 40)
	if err1 != nil || err2 != nil || pageNo < 1 || pageSize < 1 || pageSize > 100 {
		h.refuse(w, InvalidArguments, "Invalid arguments:page_no,page_size", "isv.invalid-parameter",
			"page_no from 1, page_size 1..100")
		return
	}
	fields := map[string]bool{}
	for f := range strings.SplitSeq(params["fields"], ",") {
		fields[strings.TrimSpace(f)] = true
	}

	orders := h.store.Orders(order.ChannelTmall, from, to)
	var trades []map[string]any
	lo := (pageNo - 1) * pageSize
	if lo < len(orders) {
		for _, o := range orders[lo:min(lo+pageSize, len(orders))] {
			trades = append(trades, toTrade(o, fields))
		}
	}
	resp := map[string]any{}
	if len(trades) > 0 {
		resp["trades"] = map[string]any{"trade": trades}
	}
	if params["use_has_next"] == "true" {
		resp["has_next"] = lo+pageSize < len(orders)
	} else {
		resp["total_results"] = len(orders)
	}
	platformtest.WriteJSON(w, http.StatusOK, map[string]any{"trades_sold_increment_get_response": resp})
}

func toTrade(o platformtest.Order, fields map[string]bool) map[string]any {
	t := map[string]any{}
	set := func(k string, v any) {
		if fields[k] {
			t[k] = v
		}
	}
	setTime := func(k string, v time.Time) {
		if !v.IsZero() {
			set(k, top.FormatTime(v))
		}
	}
	if isDigits(o.Key.OrderNo) {
		set("tid", json.Number(o.Key.OrderNo))
	} else {
		set("tid", o.Key.OrderNo)
	}
	set("payment", o.Amount.String())
	setTime("created", o.CreatedAt)
	setTime("pay_time", o.PaidAt)
	setTime("modified", o.UpdatedAt)
	switch o.Status {
	case platformtest.StatusPaid:
		set("status", statusWaitSellerSendGoods)
	case platformtest.StatusCancelled, platformtest.StatusRefunded:
		if o.PaidAt.IsZero() {
			set("status", tmall.StatusClosedByTaobao)
		} else {
			set("status", tmall.StatusClosed)
		}
		end := o.CancelledAt
		if end.IsZero() {
			end = o.RefundedAt
		}
		if end.IsZero() {
			end = o.UpdatedAt
		}
		setTime("end_time", end)
	default:
		set("status", statusWaitBuyerPay)
	}
	return t
}

func topTime(s string) (time.Time, error) {
	return time.ParseInLocation(top.TimeLayout, s, top.Location)
}

// isDigits reports whether s is a decimal int64, which TOP sends as a
// JSON number.
func isDigits(s string) bool {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return false
	}
	_, err := strconv.ParseInt(s, 10, 64)
	return err == nil
}
