package fakeplatform

import (
	"crypto/hmac"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms/top"
	"github.com/towerhq/tower/internal/reconcile/pull"
)

// TOP refusal codes (see the package doc).
const (
	TopInvalidMethod    = 22
	TopInvalidSignature = 25
	TopInvalidAppKey    = 29
	TopMissingArguments = 40
	TopInvalidArguments = 41
	TopInvalidTimestamp = 43
)

// Trade statuses the fake answers with.
const (
	tmallWaitBuyerPay        = "WAIT_BUYER_PAY"
	tmallWaitSellerSendGoods = "WAIT_SELLER_SEND_GOODS"
)

type tmall struct {
	appKey, appSecret string
	store             Store
	now               func() time.Time
}

// NewTmall is a fake of the TOP gateway serving
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
func NewTmall(appKey, appSecret string, s Store) http.Handler {
	return newTmall(appKey, appSecret, s, nil)
}

func newTmall(appKey, appSecret string, s Store, now func() time.Time) http.Handler {
	return &tmall{appKey: appKey, appSecret: appSecret, store: s, now: now}
}

type topError struct {
	Code      int    `json:"code"`
	Msg       string `json:"msg"`
	SubCode   string `json:"sub_code,omitempty"`
	SubMsg    string `json:"sub_msg,omitempty"`
	RequestID string `json:"request_id"`
}

func (h *tmall) refuse(w http.ResponseWriter, code int, msg, subCode, subMsg string) {
	writeJSON(w, http.StatusOK, map[string]topError{"error_response": {
		Code: code, Msg: msg, SubCode: subCode, SubMsg: subMsg, RequestID: logID()}})
}

func (h *tmall) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/router/rest" {
		http.NotFound(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxRequestBody)
	if err := r.ParseForm(); err != nil {
		h.refuse(w, TopInvalidArguments, "Invalid arguments", "isv.invalid-parameter", "unreadable form")
		return
	}
	params := map[string]string{}
	for k, vs := range r.Form {
		if len(vs) != 1 {
			h.refuse(w, TopInvalidArguments, "Invalid arguments", "isv.invalid-parameter", "repeated parameter "+k)
			return
		}
		params[k] = vs[0]
	}
	for _, k := range []string{"method", "app_key", "timestamp", "sign", "sign_method", "v"} {
		if params[k] == "" {
			h.refuse(w, TopMissingArguments, "Missing required arguments:"+k, "", "")
			return
		}
	}
	if params["app_key"] != h.appKey {
		h.refuse(w, TopInvalidAppKey, "Invalid app Key", "", "")
		return
	}
	ts, err := topTime(params["timestamp"])
	if err != nil || !fresh(h.now, ts, TopTolerance) {
		h.refuse(w, TopInvalidTimestamp, "Invalid timestamp", "", "")
		return
	}
	want, err := top.Sign(params, nil, h.appSecret, params["sign_method"])
	if err != nil {
		h.refuse(w, TopInvalidArguments, "Invalid arguments:sign_method", "", "")
		return
	}
	if !hmac.Equal([]byte(want), []byte(strings.ToUpper(params["sign"]))) {
		h.refuse(w, TopInvalidSignature, "Invalid signature", "", "")
		return
	}
	if params["method"] != pull.TmallMethodIncrementGet {
		h.refuse(w, TopInvalidMethod, "Invalid method", "", "")
		return
	}
	if f := params["format"]; f != "" && f != "json" {
		h.refuse(w, TopInvalidArguments, "Invalid arguments:format", "", "this fake answers json only")
		return
	}
	from, err1 := topTime(params["start_modified"])
	to, err2 := topTime(params["end_modified"])
	switch {
	case params["start_modified"] == "" || params["end_modified"] == "" || params["fields"] == "":
		h.refuse(w, TopMissingArguments, "Missing required arguments:start_modified,end_modified,fields", "", "")
		return
	case err1 != nil || err2 != nil || to.Before(from) || to.Sub(from) > 24*time.Hour:
		h.refuse(w, TopInvalidArguments, "Invalid arguments:start_modified,end_modified", "isv.invalid-parameter",
			"start_modified and end_modified must be yyyy-MM-dd HH:mm:ss, in order, at most one day apart")
		return
	}
	pageNo, err1 := intParam(params["page_no"], 1)
	pageSize, err2 := intParam(params["page_size"], 40)
	if err1 != nil || err2 != nil || pageNo < 1 || pageSize < 1 || pageSize > 100 {
		h.refuse(w, TopInvalidArguments, "Invalid arguments:page_no,page_size", "isv.invalid-parameter",
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
	writeJSON(w, http.StatusOK, map[string]any{"trades_sold_increment_get_response": resp})
}

func toTrade(o Order, fields map[string]bool) map[string]any {
	t := map[string]any{}
	set := func(k string, v any) {
		if fields[k] {
			t[k] = v
		}
	}
	setTime := func(k string, v time.Time) {
		if !v.IsZero() {
			set(k, v.In(pull.TmallLocation).Format(pull.TmallTimeLayout))
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
	case StatusPaid:
		set("status", tmallWaitSellerSendGoods)
	case StatusCancelled, StatusRefunded:
		if o.PaidAt.IsZero() {
			set("status", pull.TmallStatusClosedByTaobao)
		} else {
			set("status", pull.TmallStatusClosed)
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
		set("status", tmallWaitBuyerPay)
	}
	return t
}

func topTime(s string) (time.Time, error) {
	return time.ParseInLocation(pull.TmallTimeLayout, s, pull.TmallLocation)
}

func intParam(s string, def int) (int, error) {
	if s == "" {
		return def, nil
	}
	return strconv.Atoi(s)
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
