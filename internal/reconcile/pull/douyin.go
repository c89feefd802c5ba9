package pull

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms/wire"
)

// Douyin Shop (抖店) open-API constants.
const (
	DouyinMethodSearchList = "order.searchList"
	// DouyinOK is the code of a successful answer.
	DouyinOK = 10000
	// DouyinStatusCancelled is the order_status of a cancelled order.
	// (1 awaiting payment, 2 备货中 / preparing, 3 shipped, 4 cancelled,
	// 5 completed.)
	DouyinStatusCancelled = 4
)

// DouyinSign is the signature of a Douyin Shop open-API call, as the
// official doudian SDK's utils.Sign computes it:
//
//	lower_hex( HMAC-SHA256( key = app_secret,
//	    app_secret + "app_key" + app_key + "method" + method +
//	    "param_json" + param_json + "timestamp" + timestamp + "v2" + app_secret ) )
//
// timestamp is the decimal unix-seconds string sent in the query, and
// paramJSON the exact request body.
func DouyinSign(appKey, appSecret, method, timestamp, paramJSON string) string {
	m := hmac.New(sha256.New, []byte(appSecret))
	m.Write([]byte(appSecret))
	m.Write([]byte("app_key" + appKey))
	m.Write([]byte("method" + method))
	m.Write([]byte("param_json"))
	m.Write([]byte(paramJSON))
	m.Write([]byte("timestamp" + timestamp))
	m.Write([]byte("v2"))
	m.Write([]byte(appSecret))
	return hex.EncodeToString(m.Sum(nil))
}

// DouyinParamJSON marshals an open-API call's parameters the way the
// platform signs them: keys sorted, no HTML escaping, no trailing newline.
func DouyinParamJSON(params map[string]any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(params); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// Douyin lists orders with order.searchList.
type Douyin struct {
	base
	accessToken string
}

// NewDouyin is the Douyin Shop client: POST {BaseURL}/order/searchList,
// query app_key, method, timestamp, v=2, sign_method=hmac-sha256, sign and
// access_token (when configured), body = param_json:
//
//	{"order_asc":true,"order_by":"update_time","page":N,"size":S,
//	 "update_time_end":<unix>,"update_time_start":<unix>}
//
// Pages run from 0 until page*size reaches total. Offset pages shift when an
// order in the window is updated during the listing (it moves out of the
// window, or to its end): when total changes between pages, the client
// restarts from page 0 with the window's start moved to the last update
// time it has read, which the ascending order makes safe, so no order is
// skipped.
//
// Facts: order.created at create_time (Amount = order_amount); order.paid
// at pay_time when pay_time > 0 (Amount = pay_amount); order.cancelled at
// update_time when order_status is 4 (Reason = cancel_reason). Amounts are
// fen; Data.Shop is shop_id. Channel "douyin".
func NewDouyin(cfg Config) *Douyin {
	return &Douyin{base: newBase(cfg), accessToken: cfg.AccessToken}
}

// douyinAnswer is order.searchList's answer.
type douyinAnswer struct {
	Code    json.Number `json:"code"`
	Msg     string      `json:"msg"`
	SubCode string      `json:"sub_code"`
	SubMsg  string      `json:"sub_msg"`
	LogID   string      `json:"log_id"`
	Data    struct {
		ShopOrderList []douyinOrder `json:"shop_order_list"`
		Total         int64         `json:"total"`
		Page          int64         `json:"page"`
		Size          int64         `json:"size"`
	} `json:"data"`
}

type douyinOrder struct {
	OrderID      wire.IDString `json:"order_id"`
	OrderStatus  int64         `json:"order_status"`
	CreateTime   int64         `json:"create_time"`
	PayTime      int64         `json:"pay_time"`
	UpdateTime   int64         `json:"update_time"`
	PayAmount    int64         `json:"pay_amount"`
	OrderAmount  int64         `json:"order_amount"`
	CancelReason string        `json:"cancel_reason"`
	ShopID       wire.IDString `json:"shop_id"`
}

// douyinPage is one decoded page.
type douyinPage struct {
	snaps []Snapshot
	total int64
}

// decodeDouyinPage reads an answer body: the page, or the platform's
// refusal as an *APIError.
func decodeDouyinPage(body []byte) (douyinPage, error) {
	var a douyinAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return douyinPage{}, fmt.Errorf("decode answer: %w", err)
	}
	if a.Code.String() != strconv.Itoa(DouyinOK) {
		code := a.Code.String()
		if code == "" {
			code = "(none)"
		}
		return douyinPage{}, &APIError{Channel: order.ChannelDouyin, HTTPStatus: http.StatusOK,
			Code: snippet([]byte(code)), Msg: snippet([]byte(a.Msg)), SubCode: snippet([]byte(a.SubCode)), SubMsg: snippet([]byte(a.SubMsg))}
	}
	p := douyinPage{total: a.Data.Total, snaps: make([]Snapshot, 0, len(a.Data.ShopOrderList))}
	for i, o := range a.Data.ShopOrderList {
		s, err := o.snapshot()
		if err != nil {
			return douyinPage{}, fmt.Errorf("shop_order_list[%d]: %w", i, err)
		}
		p.snaps = append(p.snaps, s)
	}
	return p, nil
}

func (o douyinOrder) snapshot() (Snapshot, error) {
	if o.OrderID == "" {
		return Snapshot{}, fmt.Errorf("no order_id")
	}
	if o.UpdateTime <= 0 {
		return Snapshot{}, fmt.Errorf("order %s: no update_time", o.OrderID)
	}
	if o.PayAmount < 0 || o.OrderAmount < 0 {
		return Snapshot{}, fmt.Errorf("order %s: negative amount", o.OrderID)
	}
	shop := string(o.ShopID)
	if shop == "0" {
		shop = ""
	}
	s := Snapshot{
		Key:       order.Key{Channel: order.ChannelDouyin, OrderNo: string(o.OrderID)},
		UpdatedAt: unix(o.UpdateTime),
	}
	if o.CreateTime > 0 {
		d := order.Data{Shop: shop}
		if o.OrderAmount > 0 {
			d.Amount, d.Currency = money(order.Money(o.OrderAmount)), currency
		}
		s.Facts = append(s.Facts, Fact{Kind: order.KindCreated, At: unix(o.CreateTime), Data: d})
	}
	if o.PayTime > 0 {
		s.Facts = append(s.Facts, Fact{Kind: order.KindPaid, At: unix(o.PayTime), Data: order.Data{
			Shop: shop, Amount: money(order.Money(o.PayAmount)), Currency: currency}})
	}
	if o.OrderStatus == DouyinStatusCancelled {
		s.Facts = append(s.Facts, Fact{Kind: order.KindCancelled, At: unix(o.UpdateTime), Data: order.Data{
			Shop: shop, Reason: o.CancelReason}})
	}
	return s, nil
}

func unix(s int64) time.Time { return time.Unix(s, 0).UTC() }

// List implements Client.
func (c *Douyin) List(ctx context.Context, from, to time.Time) ([]Snapshot, error) {
	from, to = from.Truncate(time.Second), to.Truncate(time.Second)
	col := newCollector(from, to)
	if !from.Before(to) {
		return col.snapshots(), nil
	}
	start := from.Unix()
	var (
		page     int64
		total    int64 = -1
		lastSeen int64 // the latest update_time read so far
		requests int
	)
	for {
		if requests == MaxPages {
			return nil, fmt.Errorf("douyin searchList: %w: %d pages for [%s, %s)", ErrTooManyPages, requests, from, to)
		}
		requests++
		p, err := c.page(ctx, start, to.Unix(), page)
		if err != nil {
			return nil, fmt.Errorf("douyin searchList page %d: %w", page, err)
		}
		if total >= 0 && p.total != total && lastSeen > start {
			// The set moved under the offsets: list again from the last
			// update time read (ascending, so nothing before it was missed).
			start, page, total = lastSeen, 0, -1
			continue
		}
		total = p.total
		for _, s := range p.snaps {
			col.add(s)
			if u := s.UpdatedAt.Unix(); u > lastSeen {
				lastSeen = u
			}
		}
		if (page+1)*int64(c.pageSize) >= total || len(p.snaps) == 0 {
			break
		}
		page++
	}
	return col.snapshots(), nil
}

func (c *Douyin) page(ctx context.Context, start, end, page int64) (douyinPage, error) {
	paramJSON, err := DouyinParamJSON(map[string]any{
		"order_asc":         true,
		"order_by":          "update_time",
		"page":              page,
		"size":              c.pageSize,
		"update_time_end":   end,
		"update_time_start": start,
	})
	if err != nil {
		return douyinPage{}, err
	}
	ts := strconv.FormatInt(c.now().Unix(), 10)
	q := url.Values{}
	q.Set("app_key", c.appKey)
	q.Set("method", DouyinMethodSearchList)
	q.Set("timestamp", ts)
	q.Set("v", "2")
	q.Set("sign_method", "hmac-sha256")
	q.Set("sign", DouyinSign(c.appKey, c.secret, DouyinMethodSearchList, ts, paramJSON))
	if c.accessToken != "" {
		q.Set("access_token", c.accessToken)
	}
	u := c.url + "/" + strings.ReplaceAll(DouyinMethodSearchList, ".", "/") + "?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(paramJSON))
	if err != nil {
		return douyinPage{}, err
	}
	req.Header.Set("Content-Type", "application/json;charset=UTF-8")
	req.Header.Set("Accept", "application/json")
	body, status, err := c.do(req)
	if err != nil {
		return douyinPage{}, ctxErr(ctx, err)
	}
	p, err := decodeDouyinPage(body)
	if !ok(status) {
		var ae *APIError
		if errors.As(err, &ae) {
			ae.HTTPStatus = status
			return douyinPage{}, ae
		}
		return douyinPage{}, httpError(order.ChannelDouyin, status, body)
	}
	return p, err
}
