package ingest_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/ingest"
	"github.com/towerhq/tower/internal/ingest/pgtext"
	"github.com/towerhq/tower/internal/metrics"
	"github.com/towerhq/tower/internal/pgtest"
)

// oneBatch submits ds concurrently to a fresh committer that waits for all
// of them to queue, so they share one group commit, and returns what each
// Submit returned. The test fails unless exactly one batch held them all.
func oneBatch(t *testing.T, ds []*ingest.Delivery) ([]ingest.Result, []error) {
	t.Helper()
	c, m := startCommitter(t, ingest.Options{BatchWait: 5 * time.Second, Workers: 1})
	results := make([]ingest.Result, len(ds))
	errs := make([]error, len(ds))
	var wg sync.WaitGroup
	for i, d := range ds {
		wg.Go(func() { results[i], errs[i] = c.Submit(ctxT(t), d) })
	}
	pgtest.WaitFor(t, 5*time.Second, func() bool { return queued(t, m) == float64(len(ds)) })
	c.Close()
	wg.Wait()
	if n, sum := commits(t, m); n != 1 || sum != float64(len(ds)) {
		t.Fatalf("%v batches holding %v deliveries, want 1 holding %d", n, sum, len(ds))
	}
	return results, errs
}

// hugeOrderNo is an order number PostgreSQL refuses whatever the
// sanitiser does: incompressible and far over a btree index row's limit
// (the order_events (channel, order_no) index), so its row fails with
// SQLSTATE 54000.
func hugeOrderNo(t *testing.T) string {
	t.Helper()
	b := make([]byte, 24<<10)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// storedAudit is the audit row of one delivery id, as stored.
type storedAudit struct {
	Outcome   string
	Status    int
	Sanitized bool
	Headers   map[string]string
	Error     *string
	BodyLen   int
}

func auditOf(t *testing.T, src, deliveryID string) storedAudit {
	t.Helper()
	var a storedAudit
	var headers string
	if err := testDB.QueryRowContext(ctxT(t), `
		SELECT outcome, status, sanitized, headers::text, error, length(body)
		FROM webhook_deliveries WHERE source = ? AND delivery_id = ?`, src, deliveryID).
		Scan(&a.Outcome, &a.Status, &a.Sanitized, &headers, &a.Error, &a.BodyLen); err != nil {
		t.Fatalf("audit row of %s/%q: %v", src, deliveryID, err)
	}
	if err := json.Unmarshal([]byte(headers), &a.Headers); err != nil {
		t.Fatal(err)
	}
	return a
}

// TestOneSendersBytesDoNotFailOthers puts one troublesome delivery in a
// batch with four good ones, as when an unsigned request with bytes
// PostgreSQL refuses arrives together with signed webhooks: the good ones
// are always accepted, and the troublesome one is stored as well as it can
// be.
func TestOneSendersBytesDoNotFailOthers(t *testing.T) {
	r := pgtext.Replacement
	cases := []struct {
		name string
		bad  func(t *testing.T, src string) *ingest.Delivery
		// check inspects the bad delivery's result and what was stored.
		check func(t *testing.T, src string, res ingest.Result, err error)
	}{
		{
			name: "refused delivery with invalid UTF-8 and NUL in its headers and error",
			bad: func(t *testing.T, src string) *ingest.Delivery {
				d := delivery(src, "forged-\xff\xfe", evs(src, "e-forged")...)
				d.Verified, d.Outcome, d.Status = false, ingest.OutcomeBadSignature, 401
				d.Err = errors.New("signature \x00 mismatch for \xc0")
				d.Headers["x-signature"] = "\xff\xfe\xfd"
				d.Headers["x-trace\x00"] = "nul\x00here"
				d.Body = []byte("\xff\x00raw")
				return d
			},
			check: func(t *testing.T, src string, res ingest.Result, err error) {
				if err != nil || res.Outcome != ingest.OutcomeBadSignature || !res.Sanitized {
					t.Fatalf("refused delivery: %+v, %v; want bad_signature, sanitized", res, err)
				}
				a := auditOf(t, src, "forged-"+r+r)
				want := storedAudit{Outcome: "bad_signature", Status: 401, Sanitized: true, BodyLen: 5,
					Error: strp("signature " + r + " mismatch for " + r),
					Headers: map[string]string{"Content-Type": "application/json",
						"x-signature": r + r + r, "x-trace" + r: "nul" + r + "here"}}
				if !reflect.DeepEqual(a, want) {
					t.Errorf("audit row\n got %+v (error %s)\nwant %+v (error %s)", a, deref(a.Error), want, deref(want.Error))
				}
				if n := len(storedEventIDs(t, src)); n != 4 {
					t.Errorf("%d events stored, want the good deliveries' 4 only", n)
				}
			},
		},
		{
			name: "signed delivery with NUL and invalid UTF-8 inside its events",
			bad: func(t *testing.T, src string) *ingest.Delivery {
				e := ev(src, "e-dirty")
				e.Order.OrderNo = "T-\x00-1"
				e.Data.BuyerMessage = "请尽快\x00发货\xe4\xba"
				e.Data.Receiver = &order.Receiver{Name: "张\xff三", Phone: "138\x00"}
				e.Data.Items = []order.Item{{SKU: "SKU-\x00", Qty: 1, Price: 100}}
				return delivery(src, "d-dirty", e)
			},
			check: func(t *testing.T, src string, res ingest.Result, err error) {
				if err != nil || res.Outcome != ingest.OutcomeAccepted || res.Accepted != 1 || !res.Sanitized {
					t.Fatalf("dirty delivery: %+v, %v; want accepted 1, sanitized", res, err)
				}
				if a := auditOf(t, src, "d-dirty"); !a.Sanitized || a.Outcome != "accepted" {
					t.Errorf("audit row %+v, want accepted and sanitized", a)
				}
				var orderNo, data string
				if err := testDB.QueryRowContext(ctxT(t), `SELECT order_no, data::text FROM order_events WHERE source = ? AND event_id = 'e-dirty'`, src).
					Scan(&orderNo, &data); err != nil {
					t.Fatal(err)
				}
				var got order.Data
				if err := json.Unmarshal([]byte(data), &got); err != nil {
					t.Fatal(err)
				}
				if orderNo != "T-"+r+"-1" || got.BuyerMessage != "请尽快"+r+"发货"+r+r ||
					got.Receiver.Name != "张"+r+"三" || got.Receiver.Phone != "138"+r || got.Items[0].SKU != "SKU-"+r {
					t.Errorf("stored order_no %q, data %s", orderNo, data)
				}
				// The bus carries what was stored, not the raw bytes.
				var onBus *order.Event
				for _, b := range busBatches(t, src) {
					for _, e := range b {
						if e.ID == "e-dirty" {
							onBus = &e
						}
					}
				}
				if onBus == nil || onBus.Order.OrderNo != orderNo || onBus.Data.BuyerMessage != got.BuyerMessage {
					t.Errorf("bus event %+v, want the stored one", onBus)
				}
			},
		},
		{
			name: "signed delivery PostgreSQL refuses even when sanitised",
			bad: func(t *testing.T, src string) *ingest.Delivery {
				e := ev(src, "e-huge")
				e.Order.OrderNo = hugeOrderNo(t)
				return delivery(src, "d-huge", e)
			},
			check: func(t *testing.T, src string, res ingest.Result, err error) {
				if !errors.Is(err, ingest.ErrUnstorable) || !strings.Contains(err.Error(), "54000") {
					t.Fatalf("err = %v, want ErrUnstorable carrying SQLSTATE 54000", err)
				}
				if res.Outcome != ingest.OutcomeUnstorable {
					t.Errorf("result %+v, want outcome unstorable", res)
				}
				a := auditOf(t, src, "d-huge")
				if a.Outcome != "unstorable" || a.Status != ingest.StatusUnstorable || a.Error == nil || a.BodyLen == 0 {
					t.Errorf("audit row %+v (error %s), want unstorable with its error and raw body", a, deref(a.Error))
				}
				if n := len(storedEventIDs(t, src)); n != 4 {
					t.Errorf("%d events stored, want the good deliveries' 4 only", n)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := uniqueSource("isolation")
			ds := []*ingest.Delivery{
				delivery(src, "good-1", ev(src, "g-1")),
				delivery(src, "good-2", ev(src, "g-2")),
				tc.bad(t, src),
				delivery(src, "good-3", ev(src, "g-3")),
				delivery(src, "good-4", ev(src, "g-4")),
			}
			submittedBad := *ds[2]
			results, errs := oneBatch(t, ds)
			for i, res := range results {
				if i == 2 {
					continue
				}
				want := ingest.Result{Outcome: ingest.OutcomeAccepted, Accepted: 1}
				if errs[i] != nil || res != want {
					t.Errorf("good delivery %s: %+v, %v; want %+v", ds[i].DeliveryID, res, errs[i], want)
				}
			}
			tc.check(t, src, results[2], errs[2])
			if !reflect.DeepEqual(*ds[2], submittedBad) {
				t.Error("Submit modified the delivery it was given")
			}
		})
	}
}

// TestManyCulpritsInOneBatch: several unstorable deliveries among many good
// ones; each culprit fails alone, every good one is committed.
func TestManyCulpritsInOneBatch(t *testing.T) {
	src := uniqueSource("culprits")
	var ds []*ingest.Delivery
	bad := map[int]bool{3: true, 4: true, 17: true}
	for i := range 24 {
		e := ev(src, fmt.Sprintf("e-%d", i))
		if bad[i] {
			e.Order.OrderNo = hugeOrderNo(t)
		}
		ds = append(ds, delivery(src, fmt.Sprintf("d-%d", i), e))
	}
	results, errs := oneBatch(t, ds)
	for i := range ds {
		switch {
		case bad[i] && !errors.Is(errs[i], ingest.ErrUnstorable):
			t.Errorf("delivery %d: %+v, %v; want ErrUnstorable", i, results[i], errs[i])
		case !bad[i] && (errs[i] != nil || results[i].Accepted != 1):
			t.Errorf("delivery %d: %+v, %v; want accepted", i, results[i], errs[i])
		}
	}
	if n := len(storedEventIDs(t, src)); n != len(ds)-len(bad) {
		t.Errorf("%d events stored, want %d", n, len(ds)-len(bad))
	}
	if n := len(auditRows(t, src)); n != len(ds) {
		t.Errorf("%d audit rows, want one per delivery (%d)", n, len(ds))
	}
}

// TestSanitisedTextIsStorable sends what String makes of random bytes to
// PostgreSQL as text and inside jsonb, and reads back exactly that.
func TestSanitisedTextIsStorable(t *testing.T) {
	db := migrated(t)
	rng := mrand.New(mrand.NewPCG(1, 2))
	inputs := []string{"\x00", "\xff", "a\x00\xfe", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc0\xaf", "张\xe4\xba"}
	for range 300 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			// Mostly bytes that make trouble: NUL, ASCII, continuation
			// and lead bytes.
			b[i] = []byte{0, 'a', 0x80, 0xbf, 0xc3, 0xe4, 0xed, 0xf0, 0xff, byte(rng.Uint32())}[rng.IntN(10)]
		}
		inputs = append(inputs, string(b))
	}
	for _, in := range inputs {
		s := pgtext.String(in)
		doc, _ := json.Marshal(map[string]string{s: s})
		var text, fromJSON string
		if err := db.QueryRowContext(ctxT(t), `SELECT ?::text, (?::jsonb)->>?`, s, string(doc), s).Scan(&text, &fromJSON); err != nil {
			t.Fatalf("PostgreSQL refused String(%q) = %q: %v", in, s, err)
		}
		if text != s || fromJSON != s {
			t.Fatalf("String(%q) = %q read back as %q and %q", in, s, text, fromJSON)
		}
	}
}

func TestCheckText(t *testing.T) {
	t.Parallel()
	es := evs("s", "e-1", "e-2")
	if field, err := ingest.CheckText(es); field != "" || err != nil {
		t.Fatalf("CheckText(valid) = %q, %v", field, err)
	}
	es[1].Data.Receiver = &order.Receiver{Address: "朝阳区\x00"}
	field, err := ingest.CheckText(es)
	var fe *order.FieldError
	if field != "[1].data.receiver.address" || !errors.As(err, &fe) || fe.Field != field || !errors.Is(err, order.ErrInvalid) {
		t.Fatalf("CheckText = %q, %v; want [1].data.receiver.address as an *order.FieldError", field, err)
	}
	if field, _ := ingest.CheckText(&es[1]); field != "data.receiver.address" {
		t.Errorf("CheckText(one event) = %q", field)
	}
}

// TestCommitDeadline holds an exclusive lock on a table every commit writes
// (as a hung or blocked database would), then checks that Submit returns
// when its context ends, that the committer gives up on the commit after
// CommitTimeout instead of waiting forever, and that once the lock is gone
// it commits again.
func TestCommitDeadline(t *testing.T) {
	src := uniqueSource("deadline")
	const commitTimeout = time.Second
	c, _ := startCommitter(t, ingest.Options{CommitTimeout: commitTimeout, Workers: 1})

	conn, err := testDB.Conn(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	lock, err := conn.BeginTx(ctxT(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.ExecContext(ctxT(t), `LOCK TABLE webhook_deliveries IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	locked := true
	defer func() {
		if locked {
			_ = lock.Rollback()
		}
	}()

	// A request that gives up first gets its context's error, promptly.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.Submit(ctx, delivery(src, "d-impatient", ev(src, "e-impatient")))
	if waited := time.Since(start); !errors.Is(err, context.DeadlineExceeded) || waited > commitTimeout {
		t.Fatalf("Submit with a 200ms context: %v after %v; want context.DeadlineExceeded before the commit deadline", err, waited)
	}

	// A patient request hears of the failed commit at the commit deadline.
	start = time.Now()
	_, err = c.Submit(ctxT(t), delivery(src, "d-patient", ev(src, "e-patient")))
	waited := time.Since(start)
	if err == nil || errors.Is(err, ingest.ErrUnstorable) || waited > 3*commitTimeout {
		t.Fatalf("Submit while the table is locked: %v after %v; want a transient commit error within ~%v", err, waited, commitTimeout)
	}
	t.Logf("commit gave up after %v: %v", waited.Round(time.Millisecond), err)

	if err := lock.Rollback(); err != nil {
		t.Fatal(err)
	}
	locked = false
	for _, id := range []string{"impatient", "patient", "after"} {
		res, err := c.Submit(ctxT(t), delivery(src, "d-"+id, ev(src, "e-"+id)))
		if err != nil || res.Accepted != 1 {
			t.Errorf("Submit of %s after the lock was released: %+v, %v; want accepted", id, res, err)
		}
	}
}

// TestSubmitHonoursContextWhileWaiting: a committer that never commits
// (it is not running) leaves Submit waiting; it returns when its context
// ends.
func TestSubmitHonoursContextWhileWaiting(t *testing.T) {
	db := migrated(t)
	c := ingest.New(db, nil, metrics.New(), quiet, ingest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Submit(ctx, delivery("never", "d", ev("never", "e")))
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("Submit to a committer that never runs: %v after %v", err, time.Since(start))
	}
}
