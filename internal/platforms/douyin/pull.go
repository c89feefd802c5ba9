package douyin

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
	"github.com/towerhq/tower/internal/reconcile/pull"
)

// Douyin Shop (抖店) open-API constants for the order list.
const (
	MethodSearchList = "order.searchList"
	// CallOK is the code of a successful open-API answer.
	CallOK = 10000
	// StatusCancelled is the order_status of a cancelled order.
	// (1 awaiting payment, 2 备货中 / preparing, 3 shipped, 4 cancelled,
	// 5 completed.)
	StatusCancelled = 4
)

// SignCall is the signature of a Douyin Shop open-API call, as the
// official doudian SDK's utils.Sign computes it:
//
//	lower_hex( HMAC-SHA256( key = app_secret,
//	    app_secret + "app_key" + app_key + "method" + method +
//	    "param_json" + param_json + "timestamp" + timestamp + "v2" + app_secret ) )
//
// timestamp is the decimal unix-seconds string sent in the query, and
// paramJSON the exact request body. (Pushes are signed otherwise: Sign.)
func SignCall(appKey, appSecret, method, timestamp, paramJSON string) string {
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

// ParamJSON marshals an open-API call's parameters the way the platform
// signs them: keys sorted, no HTML escaping, no trailing newline.
func ParamJSON(params map[string]any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(params); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// ClientConfig configures NewClient. BaseURL is the open-API gateway, e.g.
// https://openapi-fxg.jinritemai.com.
type ClientConfig struct {
	pull.Options
	AppKey, AppSecret string
	// AccessToken is the shop's access token (query access_token), sent
	// when set.
	AccessToken string
}

// Client lists orders with order.searchList, for reconciliation.
type Client struct {
	base                pull.Base
	appKey, secret, tok string
}

var _ pull.Client = (*Client)(nil)

// NewClient is the Douyin Shop order-list client: POST
// {BaseURL}/order/searchList, query app_key, method, timestamp, v=2,
// sign_method=hmac-sha256, sign and access_token (when configured), body =
// param_json:
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
// fen; Data.Shop is shop_id. Channel "douyin". Both window bounds are
// truncated to the second, the API's unit.
func NewClient(cfg ClientConfig) *Client {
	return &Client{base: pull.NewBase(cfg.Options), appKey: cfg.AppKey, secret: cfg.AppSecret, tok: cfg.AccessToken}
}

// listAnswer is order.searchList's answer.
type listAnswer struct {
	Code    json.Number `json:"code"`
	Msg     string      `json:"msg"`
	SubCode string      `json:"sub_code"`
	SubMsg  string      `json:"sub_msg"`
	LogID   string      `json:"log_id"`
	Data    struct {
		ShopOrderList []listOrder `json:"shop_order_list"`
		Total         int64       `json:"total"`
		Page          int64       `json:"page"`
		Size          int64       `json:"size"`
	} `json:"data"`
}

type listOrder struct {
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

// listPage is one decoded page.
type listPage struct {
	snaps []pull.Snapshot
	total int64
}

// decodePage reads an answer body: the page, or the platform's refusal as
// an *pull.APIError.
func decodePage(body []byte) (listPage, error) {
	var a listAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return listPage{}, fmt.Errorf("decode answer: %w", err)
	}
	if a.Code.String() != strconv.Itoa(CallOK) {
		code := a.Code.String()
		if code == "" {
			code = "(none)"
		}
		return listPage{}, &pull.APIError{Channel: order.ChannelDouyin, HTTPStatus: http.StatusOK,
			Code: pull.Snippet([]byte(code)), Msg: pull.Snippet([]byte(a.Msg)), SubCode: pull.Snippet([]byte(a.SubCode)), SubMsg: pull.Snippet([]byte(a.SubMsg))}
	}
	p := listPage{total: a.Data.Total, snaps: make([]pull.Snapshot, 0, len(a.Data.ShopOrderList))}
	for i, o := range a.Data.ShopOrderList {
		s, err := o.snapshot()
		if err != nil {
			return listPage{}, fmt.Errorf("shop_order_list[%d]: %w", i, err)
		}
		p.snaps = append(p.snaps, s)
	}
	return p, nil
}

func (o listOrder) snapshot() (pull.Snapshot, error) {
	if o.OrderID == "" {
		return pull.Snapshot{}, fmt.Errorf("no order_id")
	}
	if o.UpdateTime <= 0 {
		return pull.Snapshot{}, fmt.Errorf("order %s: no update_time", o.OrderID)
	}
	if o.PayAmount < 0 || o.OrderAmount < 0 {
		return pull.Snapshot{}, fmt.Errorf("order %s: negative amount", o.OrderID)
	}
	shop := string(o.ShopID)
	if shop == "0" {
		shop = ""
	}
	s := pull.Snapshot{
		Key:       order.Key{Channel: order.ChannelDouyin, OrderNo: string(o.OrderID)},
		UpdatedAt: unix(o.UpdateTime),
	}
	if o.CreateTime > 0 {
		d := order.Data{Shop: shop}
		if o.OrderAmount > 0 {
			d.Amount, d.Currency = pull.Amount(order.Money(o.OrderAmount))
		}
		s.Facts = append(s.Facts, pull.Fact{Kind: order.KindCreated, At: unix(o.CreateTime), Data: d})
	}
	if o.PayTime > 0 {
		d := order.Data{Shop: shop}
		d.Amount, d.Currency = pull.Amount(order.Money(o.PayAmount))
		s.Facts = append(s.Facts, pull.Fact{Kind: order.KindPaid, At: unix(o.PayTime), Data: d})
	}
	if o.OrderStatus == StatusCancelled {
		s.Facts = append(s.Facts, pull.Fact{Kind: order.KindCancelled, At: unix(o.UpdateTime), Data: order.Data{
			Shop: shop, Reason: o.CancelReason}})
	}
	return s, nil
}

func unix(s int64) time.Time { return time.Unix(s, 0).UTC() }

// List implements pull.Client.
func (c *Client) List(ctx context.Context, from, to time.Time) ([]pull.Snapshot, error) {
	from, to = from.Truncate(time.Second), to.Truncate(time.Second)
	col := pull.NewCollector(from, to)
	if !from.Before(to) {
		return col.Snapshots(), nil
	}
	start := from.Unix()
	var (
		page     int64
		total    int64 = -1
		lastSeen int64 // the latest update_time read so far
		requests int
	)
	for {
		if requests == pull.MaxPages {
			return nil, fmt.Errorf("douyin searchList: %w: %d pages for [%s, %s)", pull.ErrTooManyPages, requests, from, to)
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
			col.Add(s)
			if u := s.UpdatedAt.Unix(); u > lastSeen {
				lastSeen = u
			}
		}
		if (page+1)*int64(c.base.PageSize) >= total || len(p.snaps) == 0 {
			break
		}
		page++
	}
	return col.Snapshots(), nil
}

func (c *Client) page(ctx context.Context, start, end, page int64) (listPage, error) {
	paramJSON, err := ParamJSON(map[string]any{
		"order_asc":         true,
		"order_by":          "update_time",
		"page":              page,
		"size":              c.base.PageSize,
		"update_time_end":   end,
		"update_time_start": start,
	})
	if err != nil {
		return listPage{}, err
	}
	ts := strconv.FormatInt(c.base.Now().Unix(), 10)
	q := url.Values{}
	q.Set("app_key", c.appKey)
	q.Set("method", MethodSearchList)
	q.Set("timestamp", ts)
	q.Set("v", "2")
	q.Set("sign_method", "hmac-sha256")
	q.Set("sign", SignCall(c.appKey, c.secret, MethodSearchList, ts, paramJSON))
	if c.tok != "" {
		q.Set("access_token", c.tok)
	}
	u := c.base.URL + "/" + strings.ReplaceAll(MethodSearchList, ".", "/") + "?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(paramJSON))
	if err != nil {
		return listPage{}, err
	}
	req.Header.Set("Content-Type", "application/json;charset=UTF-8")
	req.Header.Set("Accept", "application/json")
	body, status, err := c.base.Do(req)
	if err != nil {
		return listPage{}, err
	}
	p, err := decodePage(body)
	if !pull.OK(status) {
		var ae *pull.APIError
		if errors.As(err, &ae) {
			ae.HTTPStatus = status
			return listPage{}, ae
		}
		return listPage{}, pull.HTTPError(order.ChannelDouyin, status, body)
	}
	return p, err
}
