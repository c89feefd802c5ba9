package tmall

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms/top"
	"github.com/towerhq/tower/internal/platforms/wire"
	"github.com/towerhq/tower/internal/reconcile/pull"
)

// Taobao Open Platform (TOP) constants for the order list.
const (
	MethodIncrementGet = "taobao.trades.sold.increment.get"
	// ListFields are the trade fields asked for.
	ListFields = "tid,status,payment,created,pay_time,modified,end_time"
	// MaxSpan is the longest window one call may ask for (the API refuses
	// start_modified and end_modified more than a day apart); List splits
	// longer windows.
	MaxSpan = 24 * time.Hour
)

// Trade statuses that mean the trade was closed: TRADE_CLOSED after
// payment (refunded), TRADE_CLOSED_BY_TAOBAO before it.
const (
	StatusClosed         = "TRADE_CLOSED"
	StatusClosedByTaobao = "TRADE_CLOSED_BY_TAOBAO"
)

// ClientConfig configures NewClient. BaseURL is the TOP gateway, e.g.
// https://eco.taobao.com (the client appends /router/rest).
type ClientConfig struct {
	pull.Options
	AppKey, AppSecret string
	// Session is the seller's session key (parameter session), sent when set.
	Session string
}

// Client lists trades with taobao.trades.sold.increment.get, for
// reconciliation.
type Client struct {
	base                    pull.Base
	appKey, secret, session string
}

var _ pull.Client = (*Client)(nil)

// NewClient is the Tmall order-list client: POST {BaseURL}/router/rest,
// form-encoded method=taobao.trades.sold.increment.get, app_key, timestamp,
// format=json, v=2.0, sign_method=md5, session (when configured),
// fields=ListFields, start_modified, end_modified (both "2006-01-02
// 15:04:05", GMT+8), page_no (from 1), page_size, use_has_next=true and
// sign, the TOP MD5 signature over all other parameters (top.Sign). Pages
// are followed while has_next is true; windows longer than MaxSpan are
// split, and both bounds are truncated to the second.
//
// Facts: order.created at created; order.paid at pay_time when it is set
// (Amount = payment, yuan → fen); order.cancelled when status is
// TRADE_CLOSED or TRADE_CLOSED_BY_TAOBAO, at end_time (the close time) or,
// without it, modified. tid keeps its exact digits. Channel "tmall".
//
// The API pages by offset and promises no order, so a trade updated while
// the listing runs can shift another across a page boundary; the runner's
// window overlap is the remedy.
func NewClient(cfg ClientConfig) *Client {
	return &Client{base: pull.NewBase(cfg.Options), appKey: cfg.AppKey, secret: cfg.AppSecret, session: cfg.Session}
}

type listAnswer struct {
	Resp *struct {
		HasNext      bool  `json:"has_next"`
		TotalResults int64 `json:"total_results"`
		Trades       struct {
			Trade []listTrade `json:"trade"`
		} `json:"trades"`
	} `json:"trades_sold_increment_get_response"`
	Err *struct {
		Code    json.Number `json:"code"`
		Msg     string      `json:"msg"`
		SubCode string      `json:"sub_code"`
		SubMsg  string      `json:"sub_msg"`
	} `json:"error_response"`
}

type listTrade struct {
	Tid      wire.IDString `json:"tid"`
	Status   string        `json:"status"`
	Payment  string        `json:"payment"`
	Created  string        `json:"created"`
	PayTime  string        `json:"pay_time"`
	Modified string        `json:"modified"`
	EndTime  string        `json:"end_time"`
}

type listPage struct {
	snaps   []pull.Snapshot
	hasNext bool
}

// decodePage reads an answer body: the page, or the platform's refusal as
// an *pull.APIError.
func decodePage(body []byte) (listPage, error) {
	var a listAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return listPage{}, fmt.Errorf("decode answer: %w", err)
	}
	if a.Err != nil {
		return listPage{}, &pull.APIError{Channel: order.ChannelTmall, HTTPStatus: http.StatusOK,
			Code: pull.Snippet([]byte(a.Err.Code.String())), Msg: pull.Snippet([]byte(a.Err.Msg)), SubCode: pull.Snippet([]byte(a.Err.SubCode)), SubMsg: pull.Snippet([]byte(a.Err.SubMsg))}
	}
	if a.Resp == nil {
		return listPage{}, errors.New("decode answer: neither trades_sold_increment_get_response nor error_response")
	}
	p := listPage{hasNext: a.Resp.HasNext, snaps: make([]pull.Snapshot, 0, len(a.Resp.Trades.Trade))}
	for i, t := range a.Resp.Trades.Trade {
		s, err := t.snapshot()
		if err != nil {
			return listPage{}, fmt.Errorf("trades.trade[%d]: %w", i, err)
		}
		p.snaps = append(p.snaps, s)
	}
	return p, nil
}

func (t listTrade) snapshot() (pull.Snapshot, error) {
	if t.Tid == "" {
		return pull.Snapshot{}, errors.New("no tid")
	}
	modified, err := listTime(t.Modified)
	if err != nil || modified.IsZero() {
		return pull.Snapshot{}, fmt.Errorf("trade %s: modified: %v", t.Tid, orMissing(err))
	}
	s := pull.Snapshot{Key: order.Key{Channel: order.ChannelTmall, OrderNo: string(t.Tid)}, UpdatedAt: modified}
	created, err := listTime(t.Created)
	if err != nil {
		return pull.Snapshot{}, fmt.Errorf("trade %s: created: %w", t.Tid, err)
	}
	if !created.IsZero() {
		s.Facts = append(s.Facts, pull.Fact{Kind: order.KindCreated, At: created})
	}
	paid, err := listTime(t.PayTime)
	if err != nil {
		return pull.Snapshot{}, fmt.Errorf("trade %s: pay_time: %w", t.Tid, err)
	}
	if !paid.IsZero() {
		d := order.Data{}
		if t.Payment != "" {
			m, err := order.ParseMoney(t.Payment)
			if err != nil || m < 0 {
				return pull.Snapshot{}, fmt.Errorf("trade %s: payment %.20q: want yuan", t.Tid, t.Payment)
			}
			d.Amount, d.Currency = pull.Amount(m)
		}
		s.Facts = append(s.Facts, pull.Fact{Kind: order.KindPaid, At: paid, Data: d})
	}
	if t.Status == StatusClosed || t.Status == StatusClosedByTaobao {
		at, err := listTime(t.EndTime)
		if err != nil {
			return pull.Snapshot{}, fmt.Errorf("trade %s: end_time: %w", t.Tid, err)
		}
		if at.IsZero() {
			at = modified
		}
		s.Facts = append(s.Facts, pull.Fact{Kind: order.KindCancelled, At: at, Data: order.Data{Reason: t.Status}})
	}
	return s, nil
}

func orMissing(err error) error {
	if err == nil {
		return errors.New("missing")
	}
	return err
}

// listTime reads a TOP time; "" is the zero time.
func listTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return top.ParseTime(s)
}

// List implements pull.Client.
func (c *Client) List(ctx context.Context, from, to time.Time) ([]pull.Snapshot, error) {
	from, to = from.Truncate(time.Second), to.Truncate(time.Second)
	col := pull.NewCollector(from, to)
	requests := 0
	for start := from; start.Before(to); start = start.Add(MaxSpan) {
		end := start.Add(MaxSpan)
		if end.After(to) {
			end = to
		}
		for pageNo := 1; ; pageNo++ {
			if requests == pull.MaxPages {
				return nil, fmt.Errorf("tmall trades.sold.increment.get: %w: %d pages for [%s, %s)", pull.ErrTooManyPages, requests, from, to)
			}
			requests++
			p, err := c.page(ctx, start, end, pageNo)
			if err != nil {
				return nil, fmt.Errorf("tmall trades.sold.increment.get page %d: %w", pageNo, err)
			}
			for _, s := range p.snaps {
				col.Add(s)
			}
			if !p.hasNext || len(p.snaps) == 0 {
				break
			}
		}
	}
	return col.Snapshots(), nil
}

func (c *Client) page(ctx context.Context, start, end time.Time, pageNo int) (listPage, error) {
	params := map[string]string{
		"method":         MethodIncrementGet,
		"app_key":        c.appKey,
		"timestamp":      top.FormatTime(c.base.Now()),
		"format":         "json",
		"v":              "2.0",
		"sign_method":    "md5",
		"fields":         ListFields,
		"start_modified": top.FormatTime(start),
		"end_modified":   top.FormatTime(end),
		"page_no":        strconv.Itoa(pageNo),
		"page_size":      strconv.Itoa(c.base.PageSize),
		"use_has_next":   "true",
	}
	if c.session != "" {
		params["session"] = c.session
	}
	sign, err := top.Sign(params, nil, c.secret, top.MethodMD5)
	if err != nil {
		return listPage{}, err
	}
	form := url.Values{}
	for k, v := range params {
		form.Set(k, v)
	}
	form.Set("sign", sign)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base.URL+"/router/rest", strings.NewReader(form.Encode()))
	if err != nil {
		return listPage{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
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
		return listPage{}, pull.HTTPError(order.ChannelTmall, status, body)
	}
	return p, err
}
