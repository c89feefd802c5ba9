// Package pull is the contract of the pull half of reconciliation: pushes
// get lost, so Tower also asks each channel which orders changed in a
// window and compares what it is told with what it has seen.
//
// A Client lists orders by update time, following every page, and turns
// each listed order into a Snapshot: the facts (created, paid, cancelled,
// refunded) the channel reports for it, each with its time, as canonical
// order kinds. The clients live with their platforms (douyin.NewClient,
// tmall.NewClient, standard.NewClient for the mini-program backend); this
// package holds what they share: the HTTP round trip, the error shape and
// the window bookkeeping.
//
// Windows are half-open, [from, to). A platform that counts in whole
// seconds truncates both bounds to the second; the runner's overlap between
// windows covers that. Every client drops any listed order whose update
// time falls outside the window (Collector does), so a platform whose end
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

// Options are what every client takes besides its platform's keys.
// BaseURL is the platform's gateway or API root without a trailing slash
// (each client documents what it appends).
type Options struct {
	BaseURL string
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

// Currency of every amount the channels report.
const Currency = "CNY"

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

// Base is what every client holds: Options with their defaults applied.
type Base struct {
	URL      string
	PageSize int
	HTTP     *http.Client
	Now      func() time.Time
}

// NewBase applies the defaults of o.
func NewBase(o Options) Base {
	b := Base{
		URL:      strings.TrimRight(o.BaseURL, "/"),
		PageSize: o.PageSize,
		HTTP:     o.HTTPClient,
		Now:      o.Now,
	}
	if b.PageSize <= 0 || b.PageSize > MaxPageSize {
		b.PageSize = MaxPageSize
	}
	if b.HTTP == nil {
		b.HTTP = &http.Client{Timeout: 30 * time.Second}
	}
	if b.Now == nil {
		b.Now = time.Now
	}
	return b
}

// Do sends req and returns the answer's body and status, whatever the
// status: a platform's refusal is in its own shape, for the caller to read.
// Transport errors prefer the context's error, which says why a request
// failed (deadline, cancellation), over the transport's wrapping of it.
func (b *Base) Do(req *http.Request) (body []byte, status int, err error) {
	resp, err := b.HTTP.Do(req)
	if err != nil {
		return nil, 0, ctxErr(req.Context(), err)
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, resp.StatusCode, ctxErr(req.Context(), fmt.Errorf("read answer: %w", err))
	}
	if len(body) > maxBody {
		return nil, resp.StatusCode, fmt.Errorf("answer larger than %d bytes", maxBody)
	}
	return body, resp.StatusCode, nil
}

// OK reports whether an HTTP status is a success.
func OK(status int) bool { return status >= 200 && status < 300 }

// HTTPError is the APIError for a non-2xx answer whose body is not in the
// platform's error shape.
func HTTPError(channel string, status int, body []byte) *APIError {
	return &APIError{Channel: channel, HTTPStatus: status, Msg: Snippet(body)}
}

// Snippet is the start of body, for error messages.
func Snippet(body []byte) string {
	return wire.Truncate(strings.ToValidUTF8(strings.TrimSpace(string(body)), "?"), 200)
}

// Collector gathers snapshots across pages: one per order (the most
// recently updated wins, as an order can be listed twice when it is
// updated during the listing), only those updated in [from, to).
type Collector struct {
	from, to time.Time
	byKey    map[order.Key]int
	out      []Snapshot
}

func NewCollector(from, to time.Time) *Collector {
	return &Collector{from: from, to: to, byKey: map[order.Key]int{}}
}

// Add keeps s if it was updated in the window.
func (c *Collector) Add(s Snapshot) {
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

// Snapshots returns what was collected, oldest update first.
func (c *Collector) Snapshots() []Snapshot {
	slices.SortStableFunc(c.out, func(a, b Snapshot) int { return a.UpdatedAt.Compare(b.UpdatedAt) })
	if c.out == nil {
		return []Snapshot{}
	}
	return c.out
}

// Amount is m in Currency, for order.Data.
func Amount(m order.Money) (*order.Money, string) { return &m, Currency }

func ctxErr(ctx context.Context, err error) error {
	if ce := ctx.Err(); ce != nil && !errors.Is(err, ce) {
		return fmt.Errorf("%w (%v)", ce, err)
	}
	return err
}
