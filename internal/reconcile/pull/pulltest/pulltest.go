// Package pulltest is the contract every pull client keeps, run against
// its platform's fake order list (Run), with the fixture, the canonical
// rendering and the fuzz checks the clients' tests share.
package pulltest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/towerhq/tower/internal/platforms/platformtest"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/reconcile/pull"
)

var (
	cst = time.FixedZone("CST", 8*3600)
	// T0 starts the suite's window [T0, T0+1h): the Double 11 evening.
	T0 = time.Date(2026, 11, 11, 21, 0, 0, 0, cst)
	// Now is the clients' and the fakes' clock in the suite.
	Now = T0.Add(90 * time.Minute)
)

// Clock reads Now.
func Clock() time.Time { return Now }

// Case is one pull client against its platform's fake, for Run.
type Case struct {
	Channel string
	// OrderNoPrefix starts the fixture's order numbers (after it, 19 digits,
	// beyond float64's exact range).
	OrderNoPrefix string
	// Fake serves the platform's order list at the root.
	Fake func(s platformtest.Store, now func() time.Time) http.Handler
	// Client makes the client under test, signing with secret.
	Client func(o pull.Options, secret string) pull.Client
	// Secret is the fake's secret; Wrong is another, well-formed one.
	Secret, Wrong string
	// RefusalCode is the APIError code of a wrong secret's refusal, and
	// RefusalText what its message says ("code 40003", "HTTP 401").
	RefusalCode, RefusalText string
	// Expect is what the client should report for o, per the platform's
	// mapping, written out independently of the client.
	Expect func(o platformtest.Order) pull.Snapshot
	// Endless answers the i-th request (from 1) with one new order updated
	// at ts, and more to come.
	Endless func(w http.ResponseWriter, i int64, ts time.Time)
}

// Fixture is the same set of orders for every channel: 7 in [T0, T0+1h),
// one at its end (excluded) and one just before its start (excluded).
func Fixture(channel, prefix string) []platformtest.Order {
	no := func(i int) order.Key {
		return order.Key{Channel: channel, OrderNo: fmt.Sprintf("%s4000000000000000%03d", prefix, i)}
	}
	m := func(d time.Duration) time.Time { return T0.Add(d) }
	return []platformtest.Order{
		{Key: no(1), Status: "created", CreatedAt: m(time.Minute), UpdatedAt: m(time.Minute), Amount: Yuan("129.90")},
		{Key: no(2), Status: "paid", CreatedAt: m(2 * time.Minute), PaidAt: m(3 * time.Minute), UpdatedAt: m(3 * time.Minute), Amount: Yuan("59")},
		{Key: no(3), Status: "cancelled", CreatedAt: m(4 * time.Minute), CancelledAt: m(6 * time.Minute), UpdatedAt: m(6 * time.Minute),
			Amount: Yuan("88.80"), CancelReason: "buyer changed mind"},
		{Key: no(4), Status: "refunded", CreatedAt: m(5 * time.Minute), PaidAt: m(5*time.Minute + 30*time.Second),
			RefundedAt: m(20 * time.Minute), UpdatedAt: m(20 * time.Minute), Amount: Yuan("1299.00")},
		{Key: no(5), Status: "paid", CreatedAt: m(25 * time.Minute), PaidAt: m(26 * time.Minute), UpdatedAt: m(30 * time.Minute), Amount: Yuan("0.01")},
		{Key: no(6), Status: "created", CreatedAt: m(59 * time.Minute), UpdatedAt: m(time.Hour - time.Second), Amount: Yuan("10")},
		{Key: no(7), Status: "paid", CreatedAt: m(-10 * time.Minute), PaidAt: m(-5 * time.Minute), UpdatedAt: T0, Amount: Yuan("20.50")},
		{Key: no(8), Status: "paid", CreatedAt: m(50 * time.Minute), PaidAt: m(time.Hour), UpdatedAt: m(time.Hour), Amount: Yuan("30")},
		{Key: no(9), Status: "created", CreatedAt: m(-time.Second), UpdatedAt: m(-time.Second), Amount: Yuan("40")},
	}
}

// Yuan parses an amount; it panics on a bad one (fixtures only).
func Yuan(s string) order.Money {
	m, err := order.ParseMoney(s)
	if err != nil {
		panic(err)
	}
	return m
}

// Render prints snapshots in one canonical form (times in UTC), so a
// difference shows as text.
func Render(ss []pull.Snapshot) string {
	var b strings.Builder
	for _, s := range ss {
		fmt.Fprintf(&b, "%s updated %s\n", s.Key, s.UpdatedAt.UTC().Format(time.RFC3339))
		for _, f := range s.Facts {
			fmt.Fprintf(&b, "  %s at %s", f.Kind, f.At.UTC().Format(time.RFC3339))
			if f.Data.Amount != nil {
				fmt.Fprintf(&b, " amount %s %s", f.Data.Amount, f.Data.Currency)
			}
			if f.Data.Reason != "" {
				fmt.Fprintf(&b, " reason %q", f.Data.Reason)
			}
			if f.Data.Shop != "" {
				fmt.Fprintf(&b, " shop %s", f.Data.Shop)
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

// counting counts requests.
type counting struct {
	h  http.Handler
	mu sync.Mutex
	n  int
}

func (c *counting) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	c.h.ServeHTTP(w, r)
}

func (c *counting) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// Run checks the contract every pull client keeps with its fake:
// it follows pages, keeps to the half-open window (splitting long ones as
// its platform needs), reports refusals, HTTP failures and timeouts as
// errors that say which page, and gives up after pull.MaxPages.
func Run(t *testing.T, c Case) {
	store := &platformtest.MemStore{}
	for _, o := range Fixture(c.Channel, c.OrderNoPrefix) {
		store.Put(o)
	}
	counter := &counting{h: c.Fake(store, Clock)}
	srv := httptest.NewServer(counter)
	t.Cleanup(srv.Close)
	client := func(secret string, pageSize int) pull.Client {
		return c.Client(pull.Options{BaseURL: srv.URL, PageSize: pageSize, HTTPClient: srv.Client(), Now: Clock}, secret)
	}

	t.Run("FollowsPages", func(t *testing.T) {
		for _, tc := range []struct {
			pageSize, wantPages int
		}{
			{pageSize: 2, wantPages: 4}, // 7 orders: 2+2+2+1
			{pageSize: 3, wantPages: 3},
			{pageSize: 7, wantPages: 1},
			{pageSize: 100, wantPages: 1},
		} {
			t.Run(fmt.Sprintf("size%d", tc.pageSize), func(t *testing.T) {
				before := counter.count()
				got, err := client(c.Secret, tc.pageSize).List(t.Context(), T0, T0.Add(time.Hour))
				if err != nil {
					t.Fatal(err)
				}
				var want []pull.Snapshot
				for _, o := range Fixture(c.Channel, c.OrderNoPrefix)[:7] {
					want = append(want, c.Expect(o))
				}
				slices.SortStableFunc(want, func(a, b pull.Snapshot) int { return a.UpdatedAt.Compare(b.UpdatedAt) })
				if g, w := Render(got), Render(want); g != w {
					t.Errorf("snapshots:\n%s\nwant:\n%s", g, w)
				}
				if pages := counter.count() - before; pages != tc.wantPages {
					t.Errorf("%d requests, want %d", pages, tc.wantPages)
				}
			})
		}
	})

	t.Run("BadSecretIsRefused", func(t *testing.T) {
		got, err := client(c.Wrong, 2).List(t.Context(), T0, T0.Add(time.Hour))
		if err == nil {
			t.Fatalf("listed %d orders with a wrong secret", len(got))
		}
		var ae *pull.APIError
		if !errors.As(err, &ae) {
			t.Fatalf("error %v is not an *APIError", err)
		}
		if ae.Code != c.RefusalCode || ae.Channel != c.Channel {
			t.Errorf("APIError %+v: want channel %s code %s", ae, c.Channel, c.RefusalCode)
		}
		if !strings.Contains(err.Error(), c.RefusalText) || !strings.Contains(err.Error(), "page") {
			t.Errorf("error %q: want it to name %q and the page", err, c.RefusalText)
		}
	})

	t.Run("WindowBoundaries", func(t *testing.T) {
		m := func(d time.Duration) time.Time { return T0.Add(d) }
		for _, tc := range []struct {
			name     string
			from, to time.Time
			want     []int // fixture order numbers, any order
		}{
			{"whole hour: start included, end excluded", T0, m(time.Hour), []int{1, 2, 3, 4, 5, 6, 7}},
			{"from an update time includes it", m(3 * time.Minute), m(6 * time.Minute), []int{2}},
			{"to an update time excludes it", m(6 * time.Minute), m(20 * time.Minute), []int{3}},
			{"the next window picks up the end", m(time.Hour), m(2 * time.Hour), []int{8}},
			{"one second before", m(-time.Second), T0, []int{9}},
			{"empty window", m(10 * time.Minute), m(10 * time.Minute), nil},
			{"reversed window", m(time.Hour), T0, nil},
			{"nothing updated", m(7 * time.Minute), m(19 * time.Minute), nil},
			// Longer than a day: Tmall splits it (its fake refuses > 24h).
			{"over two days", m(-50 * time.Hour), m(time.Hour), []int{1, 2, 3, 4, 5, 6, 7, 9}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := client(c.Secret, 2).List(t.Context(), tc.from, tc.to)
				if err != nil {
					t.Fatal(err)
				}
				var keys, want []string
				for _, s := range got {
					keys = append(keys, s.Key.OrderNo)
					if s.UpdatedAt.Before(tc.from) || !s.UpdatedAt.Before(tc.to) {
						t.Errorf("%s updated %s, outside [%s, %s)", s.Key, s.UpdatedAt, tc.from, tc.to)
					}
				}
				fx := Fixture(c.Channel, c.OrderNoPrefix)
				for _, i := range tc.want {
					want = append(want, fx[i-1].Key.OrderNo)
				}
				sort.Strings(keys)
				sort.Strings(want)
				if !slices.Equal(keys, want) {
					t.Errorf("listed %v, want %v", keys, want)
				}
			})
		}
	})

	t.Run("PagesAreCapped", func(t *testing.T) {
		var n int64
		var mu sync.Mutex
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			n++
			i := n
			mu.Unlock()
			c.Endless(w, i, T0.Add(time.Duration(i)*time.Second))
		}))
		defer srv.Close()
		cl := c.Client(pull.Options{BaseURL: srv.URL, PageSize: 1, HTTPClient: srv.Client(), Now: Clock}, c.Secret)
		if _, err := cl.List(t.Context(), T0, T0.Add(time.Hour)); !errors.Is(err, pull.ErrTooManyPages) {
			t.Errorf("err = %v, want ErrTooManyPages", err)
		}
	})

	t.Run("HTTPFailures", func(t *testing.T) {
		against := func(h http.HandlerFunc) (pull.Client, func()) {
			srv := httptest.NewServer(h)
			return c.Client(pull.Options{BaseURL: srv.URL, HTTPClient: srv.Client(), Now: Clock}, c.Secret), srv.Close
		}
		t.Run("502", func(t *testing.T) {
			cl, done := against(func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "upstream gone", http.StatusBadGateway)
			})
			defer done()
			_, err := cl.List(t.Context(), T0, T0.Add(time.Hour))
			var ae *pull.APIError
			if !errors.As(err, &ae) || ae.HTTPStatus != http.StatusBadGateway || !strings.Contains(err.Error(), "page") ||
				!strings.Contains(err.Error(), "HTTP 502") || !strings.Contains(err.Error(), "upstream gone") {
				t.Errorf("err = %v", err)
			}
		})
		t.Run("garbage", func(t *testing.T) {
			cl, done := against(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, "<html>maintenance</html>")
			})
			defer done()
			if _, err := cl.List(t.Context(), T0, T0.Add(time.Hour)); err == nil || !strings.Contains(err.Error(), "decode") {
				t.Errorf("err = %v", err)
			}
		})
		t.Run("timeout", func(t *testing.T) {
			release := make(chan struct{})
			cl, done := against(func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-release:
				}
			})
			defer done()
			defer close(release)
			ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
			defer cancel()
			if _, err := cl.List(ctx, T0, T0.Add(time.Hour)); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("err = %v, want deadline exceeded", err)
			}
		})
	})
}

// CheckSnapshots holds for any page a decoder accepts: every order is
// keyed and dated, every fact has a known kind and a time, amounts are not
// negative. For fuzz targets.
func CheckSnapshots(t *testing.T, channel string, snaps []pull.Snapshot) {
	t.Helper()
	for _, s := range snaps {
		if s.Key.Channel != channel || s.Key.OrderNo == "" || s.UpdatedAt.IsZero() {
			t.Fatalf("bad snapshot %+v", s)
		}
		for _, f := range s.Facts {
			if !f.Kind.Valid() || f.At.IsZero() {
				t.Fatalf("bad fact %+v", f)
			}
			if f.Data.Amount != nil && *f.Data.Amount < 0 {
				t.Fatalf("negative amount %+v", f)
			}
		}
	}
}

// CheckError: a refusal must be an *pull.APIError that says something;
// anything else is a decoding error. For fuzz targets.
func CheckError(t *testing.T, err error) {
	t.Helper()
	var ae *pull.APIError
	if errors.As(err, &ae) && ae.Error() == "" {
		t.Fatal("empty APIError")
	}
}

// FakeNow is the clock of the fakes Serve starts: T0 plus two hours.
var FakeNow = T0.Add(2 * time.Hour)

// Serve starts fake, at the root and with its clock at FakeNow, over a
// store holding one paid order of channel, number 4000000000000000123,
// created at T0 and paid a minute later, 129.90 yuan: for a fake's own
// tests of what it checks and answers.
func Serve(t *testing.T, channel string, fake func(s platformtest.Store, now func() time.Time) http.Handler) *httptest.Server {
	t.Helper()
	s := &platformtest.MemStore{}
	s.Put(platformtest.Order{Key: order.Key{Channel: channel, OrderNo: "4000000000000000123"}, Status: platformtest.StatusPaid,
		CreatedAt: T0, PaidAt: T0.Add(time.Minute), UpdatedAt: T0.Add(time.Minute), Amount: 12990})
	srv := httptest.NewServer(fake(s, func() time.Time { return FakeNow }))
	t.Cleanup(srv.Close)
	return srv
}

// PostJSON posts body to u and decodes the JSON answer, numbers kept as
// written; "_raw" holds the answer as text.
func PostJSON(t *testing.T, u, contentType, body string) map[string]any {
	t.Helper()
	resp, err := http.Post(u, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatalf("answer %s: %v", b, err)
	}
	m["_raw"] = string(b)
	return m
}

// FuzzDecode fuzzes a client's page decoder, seeded with seeds: any answer
// decodes to sound snapshots of channel (CheckSnapshots) or to an error
// (CheckError), never a panic.
func FuzzDecode(f *testing.F, channel string, seeds []string, decode func(body []byte) ([]pull.Snapshot, error)) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		snaps, err := decode(body)
		if err != nil {
			CheckError(t, err)
			return
		}
		CheckSnapshots(t, channel, snaps)
	})
}
