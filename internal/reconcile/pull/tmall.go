package pull

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
)

// Taobao Open Platform (TOP) constants for the Tmall client.
const (
	TmallMethodIncrementGet = "taobao.trades.sold.increment.get"
	// TmallFields are the trade fields asked for.
	TmallFields = "tid,status,payment,created,pay_time,modified,end_time"
	// TmallTimeLayout is the layout of every TOP time, read in GMT+8.
	TmallTimeLayout = "2006-01-02 15:04:05"
	// TmallMaxSpan is the longest window one call may ask for (the API
	// refuses start_modified and end_modified more than a day apart); List
	// splits longer windows.
	TmallMaxSpan = 24 * time.Hour
)

// Trade statuses that mean the trade was closed: TRADE_CLOSED after
// payment (refunded), TRADE_CLOSED_BY_TAOBAO before it.
const (
	TmallStatusClosed         = "TRADE_CLOSED"
	TmallStatusClosedByTaobao = "TRADE_CLOSED_BY_TAOBAO"
)

// TmallLocation is GMT+8, the zone of every TOP time.
var TmallLocation = time.FixedZone("GMT+8", 8*60*60)

// Tmall lists trades with taobao.trades.sold.increment.get.
type Tmall struct {
	base
	session string
}

// NewTmall is the Tmall client: POST {BaseURL}/router/rest, form-encoded
// method=taobao.trades.sold.increment.get, app_key, timestamp, format=json,
// v=2.0, sign_method=md5, session (when configured), fields=TmallFields,
// start_modified, end_modified (both "2006-01-02 15:04:05", GMT+8),
// page_no (from 1), page_size, use_has_next=true and sign, the TOP MD5
// signature over all other parameters (connectors/top.Sign). Pages are
// followed while has_next is true; windows longer than TmallMaxSpan are
// split.
//
// Facts: order.created at created; order.paid at pay_time when it is set
// (Amount = payment, yuan → fen); order.cancelled when status is
// TRADE_CLOSED or TRADE_CLOSED_BY_TAOBAO, at end_time (the close time) or,
// without it, modified. tid keeps its exact digits. Channel "tmall".
//
// The API pages by offset and promises no order, so a trade updated while
// the listing runs can shift another across a page boundary; the runner's
// window overlap is the remedy.
func NewTmall(cfg Config) *Tmall {
	return &Tmall{base: newBase(cfg), session: cfg.Session}
}

type tmallAnswer struct {
	Resp *struct {
		HasNext      bool  `json:"has_next"`
		TotalResults int64 `json:"total_results"`
		Trades       struct {
			Trade []tmallTrade `json:"trade"`
		} `json:"trades"`
	} `json:"trades_sold_increment_get_response"`
	Err *struct {
		Code    json.Number `json:"code"`
		Msg     string      `json:"msg"`
		SubCode string      `json:"sub_code"`
		SubMsg  string      `json:"sub_msg"`
	} `json:"error_response"`
}

type tmallTrade struct {
	Tid      wire.IDString `json:"tid"`
	Status   string        `json:"status"`
	Payment  string        `json:"payment"`
	Created  string        `json:"created"`
	PayTime  string        `json:"pay_time"`
	Modified string        `json:"modified"`
	EndTime  string        `json:"end_time"`
}

type tmallPage struct {
	snaps   []Snapshot
	hasNext bool
}

// decodeTmallPage reads an answer body: the page, or the platform's
// refusal as an *APIError.
func decodeTmallPage(body []byte) (tmallPage, error) {
	var a tmallAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return tmallPage{}, fmt.Errorf("decode answer: %w", err)
	}
	if a.Err != nil {
		return tmallPage{}, &APIError{Channel: order.ChannelTmall, HTTPStatus: http.StatusOK,
			Code: snippet([]byte(a.Err.Code.String())), Msg: snippet([]byte(a.Err.Msg)), SubCode: snippet([]byte(a.Err.SubCode)), SubMsg: snippet([]byte(a.Err.SubMsg))}
	}
	if a.Resp == nil {
		return tmallPage{}, errors.New("decode answer: neither trades_sold_increment_get_response nor error_response")
	}
	p := tmallPage{hasNext: a.Resp.HasNext, snaps: make([]Snapshot, 0, len(a.Resp.Trades.Trade))}
	for i, t := range a.Resp.Trades.Trade {
		s, err := t.snapshot()
		if err != nil {
			return tmallPage{}, fmt.Errorf("trades.trade[%d]: %w", i, err)
		}
		p.snaps = append(p.snaps, s)
	}
	return p, nil
}

func (t tmallTrade) snapshot() (Snapshot, error) {
	if t.Tid == "" {
		return Snapshot{}, errors.New("no tid")
	}
	modified, err := tmallTime(t.Modified)
	if err != nil || modified.IsZero() {
		return Snapshot{}, fmt.Errorf("trade %s: modified: %v", t.Tid, orMissing(err))
	}
	s := Snapshot{Key: order.Key{Channel: order.ChannelTmall, OrderNo: string(t.Tid)}, UpdatedAt: modified}
	created, err := tmallTime(t.Created)
	if err != nil {
		return Snapshot{}, fmt.Errorf("trade %s: created: %w", t.Tid, err)
	}
	if !created.IsZero() {
		s.Facts = append(s.Facts, Fact{Kind: order.KindCreated, At: created})
	}
	paid, err := tmallTime(t.PayTime)
	if err != nil {
		return Snapshot{}, fmt.Errorf("trade %s: pay_time: %w", t.Tid, err)
	}
	if !paid.IsZero() {
		d := order.Data{}
		if t.Payment != "" {
			m, err := order.ParseMoney(t.Payment)
			if err != nil || m < 0 {
				return Snapshot{}, fmt.Errorf("trade %s: payment %.20q: want yuan", t.Tid, t.Payment)
			}
			d.Amount, d.Currency = money(m), currency
		}
		s.Facts = append(s.Facts, Fact{Kind: order.KindPaid, At: paid, Data: d})
	}
	if t.Status == TmallStatusClosed || t.Status == TmallStatusClosedByTaobao {
		at, err := tmallTime(t.EndTime)
		if err != nil {
			return Snapshot{}, fmt.Errorf("trade %s: end_time: %w", t.Tid, err)
		}
		if at.IsZero() {
			at = modified
		}
		s.Facts = append(s.Facts, Fact{Kind: order.KindCancelled, At: at, Data: order.Data{Reason: t.Status}})
	}
	return s, nil
}

func orMissing(err error) error {
	if err == nil {
		return errors.New("missing")
	}
	return err
}

// tmallTime reads a TOP time; "" is the zero time.
func tmallTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.ParseInLocation(TmallTimeLayout, s, TmallLocation)
	if err != nil {
		return time.Time{}, fmt.Errorf("%.40q: want yyyy-MM-dd HH:mm:ss", s)
	}
	return t, nil
}

// List implements Client.
func (c *Tmall) List(ctx context.Context, from, to time.Time) ([]Snapshot, error) {
	from, to = from.Truncate(time.Second), to.Truncate(time.Second)
	col := newCollector(from, to)
	requests := 0
	for start := from; start.Before(to); start = start.Add(TmallMaxSpan) {
		end := start.Add(TmallMaxSpan)
		if end.After(to) {
			end = to
		}
		for pageNo := 1; ; pageNo++ {
			if requests == MaxPages {
				return nil, fmt.Errorf("tmall trades.sold.increment.get: %w: %d pages for [%s, %s)", ErrTooManyPages, requests, from, to)
			}
			requests++
			p, err := c.page(ctx, start, end, pageNo)
			if err != nil {
				return nil, fmt.Errorf("tmall trades.sold.increment.get page %d: %w", pageNo, err)
			}
			for _, s := range p.snaps {
				col.add(s)
			}
			if !p.hasNext || len(p.snaps) == 0 {
				break
			}
		}
	}
	return col.snapshots(), nil
}

func (c *Tmall) page(ctx context.Context, start, end time.Time, pageNo int) (tmallPage, error) {
	params := map[string]string{
		"method":         TmallMethodIncrementGet,
		"app_key":        c.appKey,
		"timestamp":      c.now().In(TmallLocation).Format(TmallTimeLayout),
		"format":         "json",
		"v":              "2.0",
		"sign_method":    "md5",
		"fields":         TmallFields,
		"start_modified": start.In(TmallLocation).Format(TmallTimeLayout),
		"end_modified":   end.In(TmallLocation).Format(TmallTimeLayout),
		"page_no":        strconv.Itoa(pageNo),
		"page_size":      strconv.Itoa(c.pageSize),
		"use_has_next":   "true",
	}
	if c.session != "" {
		params["session"] = c.session
	}
	sign, err := top.Sign(params, nil, c.secret, top.MethodMD5)
	if err != nil {
		return tmallPage{}, err
	}
	form := url.Values{}
	for k, v := range params {
		form.Set(k, v)
	}
	form.Set("sign", sign)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url+"/router/rest", strings.NewReader(form.Encode()))
	if err != nil {
		return tmallPage{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
	req.Header.Set("Accept", "application/json")
	body, status, err := c.do(req)
	if err != nil {
		return tmallPage{}, ctxErr(ctx, err)
	}
	p, err := decodeTmallPage(body)
	if !ok(status) {
		var ae *APIError
		if errors.As(err, &ae) {
			ae.HTTPStatus = status
			return tmallPage{}, ae
		}
		return tmallPage{}, httpError(order.ChannelTmall, status, body)
	}
	return p, err
}
