// Package standardtest fakes the brand's own systems for tests and the
// simulator: the mini-program backend's order list (NewOrderList), which
// reconciliation's client pulls, answering from a platformtest.Store.
package standardtest

import (
	"crypto/hmac"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms/platformtest"
	"github.com/towerhq/tower/internal/platforms/standard"
)

// Tolerance is how far a request timestamp may be from the fake's clock.
const Tolerance = 5 * time.Minute

type orderList struct {
	secret string
	store  platformtest.Store
	now    func() time.Time
}

// NewOrderList is a fake of the brand mini-program backend's order list,
// the contract documented on standard.NewClient: GET
// /orders?updated_from=&updated_to=&limit=&cursor= signed with the
// webhook-id, webhook-timestamp and webhook-signature headers over
// id.timestamp.path?query, the path and query being read from the request
// line exactly as sent. The cursor is keyset-based on (updatedAt, orderNo);
// limit defaults to 50, at most 100. Refusals are HTTP 4xx
// {"code":<word>,"message":…}: 400 invalid_parameter, 401
// invalid_signature / missing_signature / stale_timestamp, 404 not_found,
// 405 method_not_allowed.
func NewOrderList(secret string, s platformtest.Store, now func() time.Time) http.Handler {
	return &orderList{secret: secret, store: s, now: now}
}

// OrderList is NewOrderList for platformtest.NewMux, under /miniprogram.
func OrderList(secret string) platformtest.OrderList {
	return platformtest.OrderList{Path: "/miniprogram", New: func(s platformtest.Store, now func() time.Time) http.Handler {
		return NewOrderList(secret, s, now)
	}}
}

type wireOrder struct {
	OrderNo     string     `json:"orderNo"`
	Status      string     `json:"status"`
	CreatedAt   *time.Time `json:"createdAt"`
	PaidAt      *time.Time `json:"paidAt"`
	CancelledAt *time.Time `json:"cancelledAt"`
	RefundedAt  *time.Time `json:"refundedAt"`
	Amount      string     `json:"amount"`
	UpdatedAt   time.Time  `json:"updatedAt"`
}

type wireAnswer struct {
	Orders     []wireOrder `json:"orders"`
	NextCursor *string     `json:"nextCursor"`
}

func refuse(w http.ResponseWriter, status int, code, msg string) {
	platformtest.WriteJSON(w, status, map[string]string{"code": code, "message": msg})
}

func (h *orderList) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/orders" {
		refuse(w, http.StatusNotFound, "not_found", "no such resource")
		return
	}
	if r.Method != http.MethodGet {
		refuse(w, http.StatusMethodNotAllowed, "method_not_allowed", "use GET")
		return
	}
	if status, code, msg := h.verify(r); status != 0 {
		refuse(w, status, code, msg)
		return
	}
	q := r.URL.Query()
	from, err1 := time.Parse(time.RFC3339Nano, q.Get("updated_from"))
	to, err2 := time.Parse(time.RFC3339Nano, q.Get("updated_to"))
	if err1 != nil || err2 != nil || to.Before(from) {
		refuse(w, http.StatusBadRequest, "invalid_parameter", "updated_from and updated_to must be RFC 3339, in order")
		return
	}
	limit, err := platformtest.IntParam(q.Get("limit"), 50)
	if err != nil || limit < 1 || limit > 100 {
		refuse(w, http.StatusBadRequest, "invalid_parameter", "limit must be 1..100")
		return
	}
	orders := h.store.Orders(order.ChannelMiniProgram, from, to)
	platformtest.SortOrders(orders)
	if c := q.Get("cursor"); c != "" {
		at, no, err := decodeCursor(c)
		if err != nil {
			refuse(w, http.StatusBadRequest, "invalid_parameter", "cursor is not one this server gave")
			return
		}
		i := 0
		for i < len(orders) && !after(orders[i], at, no) {
			i++
		}
		orders = orders[i:]
	}
	ans := wireAnswer{Orders: []wireOrder{}}
	for _, o := range orders[:min(limit, len(orders))] {
		ans.Orders = append(ans.Orders, toWire(o))
	}
	if len(orders) > limit {
		last := orders[limit-1]
		c := encodeCursor(last.UpdatedAt, last.Key.OrderNo)
		ans.NextCursor = &c
	}
	platformtest.WriteJSON(w, http.StatusOK, ans)
}

// verify checks the request signature; status 0 means it holds.
func (h *orderList) verify(r *http.Request) (status int, code, msg string) {
	id, tsText, sigs := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature")
	if id == "" || tsText == "" || sigs == "" {
		return http.StatusUnauthorized, "missing_signature", "webhook-id, webhook-timestamp and webhook-signature are required"
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil || !platformtest.Fresh(h.now, time.Unix(ts, 0), Tolerance) {
		return http.StatusUnauthorized, "stale_timestamp", "webhook-timestamp is not unix seconds near now"
	}
	path, rawQuery := signedTarget(r)
	want, err := standard.SignList(h.secret, id, tsText, path, rawQuery)
	if err != nil {
		return http.StatusInternalServerError, "misconfigured", "the fake's secret is not a whsec_ key"
	}
	for s := range strings.FieldsSeq(sigs) {
		if hmac.Equal([]byte(s), []byte(want)) {
			return 0, "", ""
		}
	}
	return http.StatusUnauthorized, "invalid_signature", "no webhook-signature entry matches"
}

// signedTarget is the path and query the client signed: the request line
// as received, before any prefix stripping.
func signedTarget(r *http.Request) (path, rawQuery string) {
	target := r.RequestURI
	if target == "" {
		target = r.URL.RequestURI()
	}
	if !strings.HasPrefix(target, "/") { // absolute form, through a proxy
		if u, err := url.Parse(target); err == nil {
			return u.EscapedPath(), u.RawQuery
		}
	}
	path, rawQuery, _ = strings.Cut(target, "?")
	return path, rawQuery
}

func toWire(o platformtest.Order) wireOrder {
	opt := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		return &t
	}
	status := o.Status
	if status == "" {
		status = platformtest.StatusCreated
	}
	return wireOrder{
		OrderNo: o.Key.OrderNo, Status: status,
		CreatedAt: opt(o.CreatedAt), PaidAt: opt(o.PaidAt), CancelledAt: opt(o.CancelledAt), RefundedAt: opt(o.RefundedAt),
		Amount: o.Amount.String(), UpdatedAt: o.UpdatedAt,
	}
}

// after reports whether o sorts after the key (at, no).
func after(o platformtest.Order, at time.Time, no string) bool {
	if c := o.UpdatedAt.Compare(at); c != 0 {
		return c > 0
	}
	return o.Key.OrderNo > no
}

func encodeCursor(at time.Time, no string) string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%d|%s", at.UnixNano(), no))
}

func decodeCursor(c string) (time.Time, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", err
	}
	ns, no, ok := strings.Cut(string(b), "|")
	if !ok {
		return time.Time{}, "", fmt.Errorf("cursor: no separator")
	}
	n, err := strconv.ParseInt(ns, 10, 64)
	if err != nil {
		return time.Time{}, "", err
	}
	return time.Unix(0, n), no, nil
}
