package pull

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
	"strings"
	"time"

	"github.com/towerhq/tower/domain/order"
)

// Mini-program order statuses, as the contract names them.
const (
	MiniProgramCreated   = "created"
	MiniProgramPaid      = "paid"
	MiniProgramCancelled = "cancelled"
	MiniProgramRefunded  = "refunded"
)

// MiniProgramSecretPrefix starts a mini-program signing key; the rest is
// the key, base64-encoded (the Standard Webhooks convention).
const MiniProgramSecretPrefix = "whsec_"

// MiniProgramKey decodes a "whsec_…" secret into the HMAC key.
func MiniProgramKey(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, MiniProgramSecretPrefix))
	if err != nil || len(key) == 0 {
		return nil, errors.New("miniprogram secret: want whsec_ followed by base64")
	}
	return key, nil
}

// MiniProgramSign is the webhook-signature header value of a mini-program
// request: "v1," + base64( HMAC-SHA256( key, id + "." + timestamp + "." +
// path + "?" + rawQuery ) ), key being the base64-decoded part of the
// "whsec_…" secret. path is the request's escaped path as sent and rawQuery
// its query string exactly as sent (the "?" is there even when rawQuery is
// empty).
func MiniProgramSign(secret, id, timestamp, path, rawQuery string) (string, error) {
	key, err := MiniProgramKey(secret)
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + timestamp + "." + path + "?" + rawQuery))
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil)), nil
}

// MiniProgram lists orders from the brand mini-program backend.
type MiniProgram struct {
	base
}

// NewMiniProgram is the client of the brand's own mini-program backend. No
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
//	webhook-signature: MiniProgramSign(secret, id, timestamp, path, rawQuery),
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
func NewMiniProgram(cfg Config) *MiniProgram {
	return &MiniProgram{base: newBase(cfg)}
}

type miniAnswer struct {
	Orders     []miniOrder `json:"orders"`
	NextCursor *string     `json:"nextCursor"`
}

type miniOrder struct {
	OrderNo     string       `json:"orderNo"`
	Status      string       `json:"status"`
	CreatedAt   *time.Time   `json:"createdAt"`
	PaidAt      *time.Time   `json:"paidAt"`
	CancelledAt *time.Time   `json:"cancelledAt"`
	RefundedAt  *time.Time   `json:"refundedAt"`
	Amount      *order.Money `json:"amount"`
	UpdatedAt   *time.Time   `json:"updatedAt"`
}

type miniRefusal struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type miniPage struct {
	snaps []Snapshot
	next  string
}

// decodeMiniProgramPage reads a 200 answer body.
func decodeMiniProgramPage(body []byte) (miniPage, error) {
	var a miniAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return miniPage{}, fmt.Errorf("decode answer: %w", err)
	}
	p := miniPage{snaps: make([]Snapshot, 0, len(a.Orders))}
	if a.NextCursor != nil {
		p.next = *a.NextCursor
	}
	for i, o := range a.Orders {
		s, err := o.snapshot()
		if err != nil {
			return miniPage{}, fmt.Errorf("orders[%d]: %w", i, err)
		}
		p.snaps = append(p.snaps, s)
	}
	return p, nil
}

func (o miniOrder) snapshot() (Snapshot, error) {
	if o.OrderNo == "" {
		return Snapshot{}, errors.New("no orderNo")
	}
	if o.UpdatedAt == nil || o.UpdatedAt.IsZero() {
		return Snapshot{}, fmt.Errorf("order %.64q: no updatedAt", o.OrderNo)
	}
	if o.Amount != nil && *o.Amount < 0 {
		return Snapshot{}, fmt.Errorf("order %.64q: negative amount", o.OrderNo)
	}
	s := Snapshot{Key: order.Key{Channel: order.ChannelMiniProgram, OrderNo: o.OrderNo}, UpdatedAt: *o.UpdatedAt}
	amount := order.Data{}
	if o.Amount != nil {
		amount.Amount, amount.Currency = money(*o.Amount), currency
	}
	add := func(k order.Kind, at *time.Time, d order.Data) {
		if at != nil && !at.IsZero() {
			s.Facts = append(s.Facts, Fact{Kind: k, At: *at, Data: d})
		}
	}
	add(order.KindCreated, o.CreatedAt, amount)
	add(order.KindPaid, o.PaidAt, amount)
	add(order.KindCancelled, o.CancelledAt, order.Data{})
	add(order.KindRefundCompleted, o.RefundedAt, order.Data{})
	return s, nil
}

// List implements Client.
func (c *MiniProgram) List(ctx context.Context, from, to time.Time) ([]Snapshot, error) {
	col := newCollector(from, to)
	if !from.Before(to) {
		return col.snapshots(), nil
	}
	if _, err := MiniProgramKey(c.secret); err != nil {
		return nil, err
	}
	cursor := ""
	seen := map[string]bool{}
	for page := 0; ; page++ {
		if page == MaxPages {
			return nil, fmt.Errorf("miniprogram orders: %w: %d pages for [%s, %s)", ErrTooManyPages, page, from, to)
		}
		p, err := c.page(ctx, from, to, cursor)
		if err != nil {
			return nil, fmt.Errorf("miniprogram orders page %d: %w", page, err)
		}
		for _, s := range p.snaps {
			col.add(s)
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
	return col.snapshots(), nil
}

func (c *MiniProgram) page(ctx context.Context, from, to time.Time, cursor string) (miniPage, error) {
	q := url.Values{}
	q.Set("updated_from", from.UTC().Format(time.RFC3339Nano))
	q.Set("updated_to", to.UTC().Format(time.RFC3339Nano))
	q.Set("limit", strconv.Itoa(c.pageSize))
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url+"/orders?"+q.Encode(), nil)
	if err != nil {
		return miniPage{}, err
	}
	id, err := newMessageID()
	if err != nil {
		return miniPage{}, err
	}
	ts := strconv.FormatInt(c.now().Unix(), 10)
	sig, err := MiniProgramSign(c.secret, id, ts, req.URL.EscapedPath(), req.URL.RawQuery)
	if err != nil {
		return miniPage{}, err
	}
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", ts)
	req.Header.Set("webhook-signature", sig)
	req.Header.Set("Accept", "application/json")
	body, status, err := c.do(req)
	if err != nil {
		return miniPage{}, ctxErr(ctx, err)
	}
	if !ok(status) {
		var r miniRefusal
		if json.Unmarshal(body, &r) == nil && (r.Code != "" || r.Message != "") {
			return miniPage{}, &APIError{Channel: order.ChannelMiniProgram, HTTPStatus: status,
				Code: snippet([]byte(r.Code)), Msg: snippet([]byte(r.Message))}
		}
		return miniPage{}, httpError(order.ChannelMiniProgram, status, body)
	}
	return decodeMiniProgramPage(body)
}

// newMessageID is a random webhook-id.
func newMessageID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "msg_" + base64.RawURLEncoding.EncodeToString(b[:]), nil
}
