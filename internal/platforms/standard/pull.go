package standard

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/reconcile/pull"
)

// Order statuses of the mini-program backend's order list, as the
// contract (NewClient) names them.
const (
	ListCreated   = "created"
	ListPaid      = "paid"
	ListCancelled = "cancelled"
	ListRefunded  = "refunded"
)

// SignList is the webhook-signature header value of an order-list request
// to the mini-program backend: "v1," + base64( HMAC-SHA256( key, id + "."
// + timestamp + "." + path + "?" + rawQuery ) ), key being the secret's
// ("whsec_…") key, as for pushes. path is the request's escaped path as
// sent and rawQuery its query string exactly as sent (the "?" is there
// even when rawQuery is empty).
func SignList(secret, id, timestamp, path, rawQuery string) (string, error) {
	key, err := decodeSecret(secret)
	if err != nil {
		return "", fmt.Errorf("miniprogram secret: %w", err)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + timestamp + "." + path + "?" + rawQuery))
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil)), nil
}

// ClientConfig configures NewClient. BaseURL is the backend's API root.
type ClientConfig struct {
	pull.Options
	// Secret is the "whsec_…" key the source's pushes are signed with.
	Secret string
}

// Client lists orders from the brand mini-program backend, for
// reconciliation of a standard source with channel miniprogram.
type Client struct {
	base   pull.Base
	secret string
}

var _ pull.Client = (*Client)(nil)

// NewClient is the client of the brand's own mini-program backend. No
// platform standard exists; this is our contract, which the backend
// implements:
//
//	GET {BaseURL}/orders?updated_from=<RFC 3339>&updated_to=<RFC 3339>&limit=<1..100>[&cursor=<opaque>]
//
// lists the orders whose updatedAt is in [updated_from, updated_to), ordered
// by (updatedAt, orderNo). The cursor is opaque to the client and must be
// keyset-based (the last (updatedAt, orderNo) returned), so that orders
// updated during a listing neither shift others out of it nor repeat
// endlessly. Authentication is Standard-Webhooks-style signing of the
// request:
//
//	webhook-id:        a random id, unique per request
//	webhook-timestamp: unix seconds; the backend refuses more than 5 minutes off
//	webhook-signature: SignList(secret, id, timestamp, path, rawQuery),
//	                   space-separated "v1,<sig>" entries, any match suffices
//
// Answer 200:
//
//	{"orders":[{"orderNo":"MP…","status":"created|paid|cancelled|refunded",
//	  "createdAt":"…","paidAt":"…"|null,"cancelledAt":"…"|null,"refundedAt":"…"|null,
//	  "amount":"129.90","updatedAt":"…"}],
//	 "nextCursor":"…"|null}
//
// and a refusal is a 4xx/5xx with {"code":"<word>","message":"…"} (401
// code invalid_signature for a bad signature). Facts: order.created at
// createdAt (Amount = amount); order.paid at paidAt; order.cancelled at
// cancelledAt; refund.completed at refundedAt. Channel "miniprogram".
func NewClient(cfg ClientConfig) *Client {
	return &Client{base: pull.NewBase(cfg.Options), secret: cfg.Secret}
}

type listAnswer struct {
	Orders     []listOrder `json:"orders"`
	NextCursor *string     `json:"nextCursor"`
}

type listOrder struct {
	OrderNo     string       `json:"orderNo"`
	Status      string       `json:"status"`
	CreatedAt   *time.Time   `json:"createdAt"`
	PaidAt      *time.Time   `json:"paidAt"`
	CancelledAt *time.Time   `json:"cancelledAt"`
	RefundedAt  *time.Time   `json:"refundedAt"`
	Amount      *order.Money `json:"amount"`
	UpdatedAt   *time.Time   `json:"updatedAt"`
}

type listRefusal struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type listPage struct {
	snaps []pull.Snapshot
	next  string
}

// decodePage reads a 200 answer body.
func decodePage(body []byte) (listPage, error) {
	var a listAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return listPage{}, fmt.Errorf("decode answer: %w", err)
	}
	p := listPage{snaps: make([]pull.Snapshot, 0, len(a.Orders))}
	if a.NextCursor != nil {
		p.next = *a.NextCursor
	}
	for i, o := range a.Orders {
		s, err := o.snapshot()
		if err != nil {
			return listPage{}, fmt.Errorf("orders[%d]: %w", i, err)
		}
		p.snaps = append(p.snaps, s)
	}
	return p, nil
}

func (o listOrder) snapshot() (pull.Snapshot, error) {
	if o.OrderNo == "" {
		return pull.Snapshot{}, errors.New("no orderNo")
	}
	if o.UpdatedAt == nil || o.UpdatedAt.IsZero() {
		return pull.Snapshot{}, fmt.Errorf("order %.64q: no updatedAt", o.OrderNo)
	}
	if o.Amount != nil && *o.Amount < 0 {
		return pull.Snapshot{}, fmt.Errorf("order %.64q: negative amount", o.OrderNo)
	}
	s := pull.Snapshot{Key: order.Key{Channel: order.ChannelMiniProgram, OrderNo: o.OrderNo}, UpdatedAt: *o.UpdatedAt}
	amount := order.Data{}
	if o.Amount != nil {
		amount.Amount, amount.Currency = pull.Amount(*o.Amount)
	}
	add := func(k order.Kind, at *time.Time, d order.Data) {
		if at != nil && !at.IsZero() {
			s.Facts = append(s.Facts, pull.Fact{Kind: k, At: *at, Data: d})
		}
	}
	add(order.KindCreated, o.CreatedAt, amount)
	add(order.KindPaid, o.PaidAt, amount)
	add(order.KindCancelled, o.CancelledAt, order.Data{})
	add(order.KindRefundCompleted, o.RefundedAt, order.Data{})
	return s, nil
}

// List implements pull.Client.
func (c *Client) List(ctx context.Context, from, to time.Time) ([]pull.Snapshot, error) {
	col := pull.NewCollector(from, to)
	if !from.Before(to) {
		return col.Snapshots(), nil
	}
	if _, err := decodeSecret(c.secret); err != nil {
		return nil, fmt.Errorf("miniprogram secret: %w", err)
	}
	cursor := ""
	seen := map[string]bool{}
	for page := 0; ; page++ {
		if page == pull.MaxPages {
			return nil, fmt.Errorf("miniprogram orders: %w: %d pages for [%s, %s)", pull.ErrTooManyPages, page, from, to)
		}
		p, err := c.page(ctx, from, to, cursor)
		if err != nil {
			return nil, fmt.Errorf("miniprogram orders page %d: %w", page, err)
		}
		for _, s := range p.snaps {
			col.Add(s)
		}
		if p.next == "" {
			break
		}
		if seen[p.next] {
			return nil, fmt.Errorf("miniprogram orders page %d: nextCursor repeats an earlier one", page)
		}
		seen[p.next] = true
		cursor = p.next
	}
	return col.Snapshots(), nil
}

func (c *Client) page(ctx context.Context, from, to time.Time, cursor string) (listPage, error) {
	q := url.Values{}
	q.Set("updated_from", from.UTC().Format(time.RFC3339Nano))
	q.Set("updated_to", to.UTC().Format(time.RFC3339Nano))
	q.Set("limit", strconv.Itoa(c.base.PageSize))
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base.URL+"/orders?"+q.Encode(), nil)
	if err != nil {
		return listPage{}, err
	}
	id, err := newMessageID()
	if err != nil {
		return listPage{}, err
	}
	ts := strconv.FormatInt(c.base.Now().Unix(), 10)
	sig, err := SignList(c.secret, id, ts, req.URL.EscapedPath(), req.URL.RawQuery)
	if err != nil {
		return listPage{}, err
	}
	req.Header.Set(HeaderID, id)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, sig)
	req.Header.Set("Accept", "application/json")
	body, status, err := c.base.Do(req)
	if err != nil {
		return listPage{}, err
	}
	if !pull.OK(status) {
		var r listRefusal
		if json.Unmarshal(body, &r) == nil && (r.Code != "" || r.Message != "") {
			return listPage{}, &pull.APIError{Channel: order.ChannelMiniProgram, HTTPStatus: status,
				Code: pull.Snippet([]byte(r.Code)), Msg: pull.Snippet([]byte(r.Message))}
		}
		return listPage{}, pull.HTTPError(order.ChannelMiniProgram, status, body)
	}
	return decodePage(body)
}

// newMessageID is a random webhook-id.
func newMessageID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "msg_" + base64.RawURLEncoding.EncodeToString(b[:]), nil
}
