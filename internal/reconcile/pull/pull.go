// Package pull lists a channel's orders by update time, the pull half of
// reconciliation: pushes get lost, so Tower also asks each channel which
// orders changed in a window and compares what it is told with what it has
// seen.
//
// Three clients share one shape (Client): Douyin Shop's order.searchList,
// Taobao/Tmall's taobao.trades.sold.increment.get, and the brand
// mini-program backend's GET /orders (our own contract, documented on
// NewMiniProgram). Each signs its requests the way the platform verifies
// them, follows every page, and turns each listed order into a Snapshot:
// the facts (created, paid, cancelled, refunded) the channel reports for it,
// each with its time, as canonical order kinds.
//
// Windows are half-open, [from, to). Douyin and Tmall count in whole
// seconds, so for them both bounds are truncated to the second; the runner's
// overlap between windows covers that. Every client also drops any listed
// order whose update time falls outside the window, so a platform whose end
// bound is inclusive does not report an order twice at the edge.
package pull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms/wire"
)

// Fact is one thing the channel says happened to an order.
type Fact struct {
	Kind order.Kind
	At   time.Time
	Data order.Data
}

// Snapshot is an order as the channel lists it now.
type Snapshot struct {
	Key       order.Key
	UpdatedAt time.Time
	Facts     []Fact
}

// Client lists orders updated in [from, to), following pages.
type Client interface {
	List(ctx context.Context, from, to time.Time) ([]Snapshot, error)
}

// Config configures one client. BaseURL is the platform's gateway without a
// trailing slash, e.g. https://openapi-fxg.jinritemai.com for Douyin,
// https://eco.taobao.com for Tmall (the client appends /router/rest), or the
// mini-program backend's API root.
type Config struct {
	BaseURL   string
	AppKey    string // Douyin and Tmall app key; unused by the mini-program
	AppSecret string // Douyin/Tmall app secret; the mini-program's "whsec_…" key
	// AccessToken is Douyin's shop access token (query access_token), sent
	// when set.
	AccessToken string
	// Session is Tmall's seller session key (parameter session), sent when set.
	Session string
	// PageSize is the page size asked for; 0 means 100, the platforms'
	// maximum, and larger values are cut to 100.
	PageSize   int
	HTTPClient *http.Client     // nil means a client with a 30 s timeout
	Now        func() time.Time // clock for request timestamps; nil means time.Now
}

// Defaults and limits shared by the clients.
const (
	// MaxPages is how many pages one List call fetches before it gives up
	// with ErrTooManyPages.
	MaxPages = 1000
	// MaxPageSize is the largest page size the platforms accept.
	MaxPageSize = 100
	// maxBody caps how much of one response is read.
	maxBody = 16 << 20
)

// ErrTooManyPages is returned (wrapped) when a listing needs more than
// MaxPages pages; shorten the window.
var ErrTooManyPages = errors.New("too many pages")

// APIError is a refusal by the platform: an error answer in its own shape,
// or a non-2xx HTTP status.
type APIError struct {
	Channel    string // order.ChannelDouyin, order.ChannelTmall, order.ChannelMiniProgram
	HTTPStatus int    // the HTTP status of the answer
	Code       string // the platform's error code; "" when it gave none
	Msg        string
	SubCode    string
	SubMsg     string
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString(e.Channel)
	if e.HTTPStatus != 0 && e.HTTPStatus != http.StatusOK {
		fmt.Fprintf(&b, ": HTTP %d", e.HTTPStatus)
	}
	if e.Code != "" {
		b.WriteString(": code " + e.Code)
	}
	if e.SubCode != "" {
		b.WriteString(" (" + e.SubCode + ")")
	}
	if e.Msg != "" {
		b.WriteString(": " + e.Msg)
	}
	if e.SubMsg != "" {
		b.WriteString(": " + e.SubMsg)
	}
	return b.String()
}

// base is what every client holds.
type base struct {
	url      string
	appKey   string
	secret   string
	pageSize int
	http     *http.Client
	now      func() time.Time
}

func newBase(cfg Config) base {
	b := base{
		url:      strings.TrimRight(cfg.BaseURL, "/"),
		appKey:   cfg.AppKey,
		secret:   cfg.AppSecret,
		pageSize: cfg.PageSize,
		http:     cfg.HTTPClient,
		now:      cfg.Now,
	}
	if b.pageSize <= 0 || b.pageSize > MaxPageSize {
		b.pageSize = MaxPageSize
	}
	if b.http == nil {
		b.http = &http.Client{Timeout: 30 * time.Second}
	}
	if b.now == nil {
		b.now = time.Now
	}
	return b
}

// do sends req and returns the body of a 2xx answer. A non-2xx answer is
// returned as the body together with its status, for the caller to read the
// platform's error shape from.
func (b *base) do(req *http.Request) (body []byte, status int, err error) {
	resp, err := b.http.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, resp.StatusCode, fmt.Errorf("read answer: %w", err)
	}
	if len(body) > maxBody {
		return nil, resp.StatusCode, fmt.Errorf("answer larger than %d bytes", maxBody)
	}
	return body, resp.StatusCode, nil
}

func ok(status int) bool { return status >= 200 && status < 300 }

// httpError is the APIError for a non-2xx answer whose body is not in the
// platform's error shape.
func httpError(channel string, status int, body []byte) *APIError {
	return &APIError{Channel: channel, HTTPStatus: status, Msg: snippet(body)}
}

// snippet is the start of body, for error messages.
func snippet(body []byte) string {
	return wire.Truncate(strings.ToValidUTF8(strings.TrimSpace(string(body)), "?"), 200)
}

// collector gathers snapshots across pages: one per order (the most
// recently updated wins, as an order can be listed twice when it is
// updated during the listing), only those updated in [from, to).
type collector struct {
	from, to time.Time
	byKey    map[order.Key]int
	out      []Snapshot
}

func newCollector(from, to time.Time) *collector {
	return &collector{from: from, to: to, byKey: map[order.Key]int{}}
}

func (c *collector) add(s Snapshot) {
	if s.UpdatedAt.Before(c.from) || !s.UpdatedAt.Before(c.to) {
		return
	}
	if i, seen := c.byKey[s.Key]; seen {
		if s.UpdatedAt.After(c.out[i].UpdatedAt) {
			c.out[i] = s
		}
		return
	}
	c.byKey[s.Key] = len(c.out)
	c.out = append(c.out, s)
}

// snapshots returns what was collected, oldest update first.
func (c *collector) snapshots() []Snapshot {
	slices.SortStableFunc(c.out, func(a, b Snapshot) int { return a.UpdatedAt.Compare(b.UpdatedAt) })
	if c.out == nil {
		return []Snapshot{}
	}
	return c.out
}

// currency of every amount the three channels report.
const currency = "CNY"

func money(m order.Money) *order.Money { return &m }

// ctxErr prefers the context's error, which says why a request failed
// (deadline, cancellation), over the transport's wrapping of it.
func ctxErr(ctx context.Context, err error) error {
	if ce := ctx.Err(); ce != nil && !errors.Is(err, ce) {
		return fmt.Errorf("%w (%v)", ce, err)
	}
	return err
}
