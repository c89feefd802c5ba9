package ingest_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/ingest"
	"github.com/towerhq/tower/internal/pgtest"
)

// TestSubmit runs deliveries one after another through a committer and
// checks, after each, its result and exactly what it added: events, the
// audit row, the receipt and the bus message.
func TestSubmit(t *testing.T) {
	src := uniqueSource("shop-a")
	c, _ := startCommitter(t, ingest.Options{BatchWait: time.Millisecond})

	badSig := delivery(src, "d-forged", evs(src, "e-forged")...)
	badSig.Verified, badSig.Outcome, badSig.Status, badSig.Err = false, ingest.OutcomeBadSignature, 401, errors.New("signature mismatch")
	malformed := delivery(src, "d-malformed")
	malformed.Body = []byte(`{"events": [`)
	malformed.Outcome, malformed.Status, malformed.Err = ingest.OutcomeMalformed, 400, errors.New("unexpected end of JSON input")

	steps := []struct {
		name string
		d    *ingest.Delivery
		want ingest.Result
		// What the delivery adds.
		newEvents []string // event ids newly in order_events; also the one bus message, if any
		receipt   bool
		audit     auditRow
	}{
		{
			name:      "new delivery with three events",
			d:         delivery(src, "d-1", evs(src, "e-1", "e-2", "e-3")...),
			want:      ingest.Result{Outcome: ingest.OutcomeAccepted, Accepted: 3},
			newEvents: []string{"e-1", "e-2", "e-3"}, receipt: true,
			audit: auditRow{DeliveryID: strp("d-1"), Verified: true, Status: 200, Outcome: "accepted", Accepted: 3},
		},
		{
			name:  "same delivery id again",
			d:     delivery(src, "d-1", evs(src, "e-1", "e-2", "e-3")...),
			want:  ingest.Result{Outcome: ingest.OutcomeDuplicate, Duplicates: 3},
			audit: auditRow{DeliveryID: strp("d-1"), Verified: true, Status: 200, Outcome: "duplicate", Duplicate: 3},
		},
		{
			name:  "same delivery id with other events is still a duplicate",
			d:     delivery(src, "d-1", evs(src, "e-other")...),
			want:  ingest.Result{Outcome: ingest.OutcomeDuplicate, Duplicates: 1},
			audit: auditRow{DeliveryID: strp("d-1"), Verified: true, Status: 200, Outcome: "duplicate", Duplicate: 1},
		},
		{
			name:    "new delivery id carrying only stored events",
			d:       delivery(src, "d-2", evs(src, "e-2", "e-3")...),
			want:    ingest.Result{Outcome: ingest.OutcomeDuplicate, Duplicates: 2},
			receipt: true,
			audit:   auditRow{DeliveryID: strp("d-2"), Verified: true, Status: 200, Outcome: "duplicate", Duplicate: 2},
		},
		{
			name:      "new delivery id carrying a stored event and a new one",
			d:         delivery(src, "d-3", evs(src, "e-3", "e-4")...),
			want:      ingest.Result{Outcome: ingest.OutcomeAccepted, Accepted: 1, Duplicates: 1},
			newEvents: []string{"e-4"}, receipt: true,
			audit: auditRow{DeliveryID: strp("d-3"), Verified: true, Status: 200, Outcome: "accepted", Accepted: 1, Duplicate: 1},
		},
		{
			name:      "an event repeated inside one delivery is stored once",
			d:         delivery(src, "d-4", evs(src, "e-5", "e-5", "e-6")...),
			want:      ingest.Result{Outcome: ingest.OutcomeAccepted, Accepted: 2, Duplicates: 1},
			newEvents: []string{"e-5", "e-6"}, receipt: true,
			audit: auditRow{DeliveryID: strp("d-4"), Verified: true, Status: 200, Outcome: "accepted", Accepted: 2, Duplicate: 1},
		},
		{
			name: "bad signature is audited only",
			d:    badSig,
			want: ingest.Result{Outcome: ingest.OutcomeBadSignature},
			audit: auditRow{DeliveryID: strp("d-forged"), Verified: false, Status: 401, Outcome: "bad_signature",
				Error: strp("signature mismatch"), BodyLen: len(badSig.Body)},
		},
		{
			name: "malformed body is audited only",
			d:    malformed,
			want: ingest.Result{Outcome: ingest.OutcomeMalformed},
			audit: auditRow{DeliveryID: strp("d-malformed"), Verified: true, Status: 400, Outcome: "malformed",
				Error: strp("unexpected end of JSON input"), BodyLen: len(malformed.Body)},
		},
		{
			name:      "a rejected delivery id does not block the genuine delivery",
			d:         delivery(src, "d-forged", evs(src, "e-forged")...),
			want:      ingest.Result{Outcome: ingest.OutcomeAccepted, Accepted: 1},
			newEvents: []string{"e-forged"}, receipt: true,
			audit: auditRow{DeliveryID: strp("d-forged"), Verified: true, Status: 200, Outcome: "accepted", Accepted: 1},
		},
		{
			name:      "delivery without a delivery id is deduplicated by event id only",
			d:         delivery(src, "", evs(src, "e-6", "e-7")...),
			want:      ingest.Result{Outcome: ingest.OutcomeAccepted, Accepted: 1, Duplicates: 1},
			newEvents: []string{"e-7"},
			audit:     auditRow{Verified: true, Status: 200, Outcome: "accepted", Accepted: 1, Duplicate: 1},
		},
	}

	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			beforeEvents := storedEventIDs(t, src)
			beforeMsgs := busBatches(t, src)
			beforeAudit := auditRows(t, src)
			beforeReceipts := countReceipts(t, src)

			got, err := c.Submit(ctxT(t), st.d)
			if err != nil {
				t.Fatalf("Submit: %v", err)
			}
			if got != st.want {
				t.Errorf("result = %+v, want %+v", got, st.want)
			}

			afterEvents := storedEventIDs(t, src)
			for id, n := range afterEvents {
				if n != 1 {
					t.Errorf("event %s stored %d times", id, n)
				}
			}
			var added []string
			for id := range afterEvents {
				if beforeEvents[id] == 0 {
					added = append(added, id)
				}
			}
			slices.Sort(added)
			if !slices.Equal(added, st.newEvents) {
				t.Errorf("new rows in order_events = %v, want %v", added, st.newEvents)
			}

			afterMsgs := busBatches(t, src)
			newMsgs := afterMsgs[len(beforeMsgs):]
			switch {
			case len(st.newEvents) == 0 && len(newMsgs) != 0:
				t.Errorf("published %d bus messages, want none: %v", len(newMsgs), newMsgs)
			case len(st.newEvents) > 0 && len(newMsgs) != 1:
				t.Errorf("published %d bus messages, want 1", len(newMsgs))
			case len(st.newEvents) > 0:
				// The message carries the new events themselves, intact.
				var want []order.Event
				for _, e := range st.d.Events {
					if slices.Contains(st.newEvents, e.ID) && !slices.ContainsFunc(want, func(w order.Event) bool { return w.ID == e.ID }) {
						want = append(want, e)
					}
				}
				gotMsg := slices.Clone(newMsgs[0])
				slices.SortFunc(gotMsg, func(a, b order.Event) int { return cmpString(a.ID, b.ID) })
				slices.SortFunc(want, func(a, b order.Event) int { return cmpString(a.ID, b.ID) })
				if !reflect.DeepEqual(gotMsg, want) {
					t.Errorf("bus message events:\n got %+v\nwant %+v", gotMsg, want)
				}
			}

			afterAudit := auditRows(t, src)
			if len(afterAudit) != len(beforeAudit)+1 {
				t.Fatalf("webhook_deliveries grew by %d rows, want 1", len(afterAudit)-len(beforeAudit))
			}
			a := afterAudit[len(afterAudit)-1]
			if deref(a.DeliveryID) != deref(st.audit.DeliveryID) || deref(a.Error) != deref(st.audit.Error) {
				t.Errorf("audit delivery_id=%s error=%s, want delivery_id=%s error=%s",
					deref(a.DeliveryID), deref(a.Error), deref(st.audit.DeliveryID), deref(st.audit.Error))
			}
			a.DeliveryID, a.Error = nil, nil
			want := st.audit
			want.DeliveryID, want.Error = nil, nil
			if a != want {
				t.Errorf("audit row = %+v, want %+v", a, want)
			}

			wantReceipts := beforeReceipts
			if st.receipt {
				wantReceipts++
			}
			if n := countReceipts(t, src); n != wantReceipts {
				t.Errorf("webhook_receipts = %d rows, want %d", n, wantReceipts)
			}
		})
	}
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestSameBatch puts deliveries into one group commit (a long batch wait and
// a single worker) and checks the batch is deduplicated within itself.
func TestSameBatch(t *testing.T) {
	cases := []struct {
		name string
		// before are committed first, one by one.
		before func(src string) []*ingest.Delivery
		ds     func(src string) []*ingest.Delivery // queued in this order
		events int                                 // distinct events the batch stores
		// Outcomes in any order.
		outcomes []string
	}{
		{
			name: "two delivery ids with the same events",
			ds: func(src string) []*ingest.Delivery {
				return []*ingest.Delivery{
					delivery(src, "d-1", evs(src, "e-1", "e-2")...),
					delivery(src, "d-2", evs(src, "e-2", "e-1")...),
				}
			},
			events:   2,
			outcomes: []string{"accepted", "duplicate"},
		},
		{
			name: "the same delivery id twice",
			ds: func(src string) []*ingest.Delivery {
				return []*ingest.Delivery{
					delivery(src, "d-1", evs(src, "e-1")...),
					delivery(src, "d-1", evs(src, "e-1")...),
				}
			},
			events:   1,
			outcomes: []string{"accepted", "duplicate"},
		},
		{
			name: "overlapping events",
			ds: func(src string) []*ingest.Delivery {
				return []*ingest.Delivery{
					delivery(src, "d-1", evs(src, "e-1", "e-2")...),
					delivery(src, "d-2", evs(src, "e-2", "e-3")...),
					delivery(src, "d-3", evs(src, "e-3", "e-1")...),
				}
			},
			events:   3,
			outcomes: []string{"accepted", "accepted", "duplicate"},
		},
		{
			// The repeat claims nothing, so its events are the next
			// delivery's to store.
			name: "a repeated delivery id first, then a new one carrying its new event",
			before: func(src string) []*ingest.Delivery {
				return []*ingest.Delivery{delivery(src, "d-1", evs(src, "e-0")...)}
			},
			ds: func(src string) []*ingest.Delivery {
				return []*ingest.Delivery{
					delivery(src, "d-1", evs(src, "e-1")...),
					delivery(src, "d-2", evs(src, "e-1")...),
				}
			},
			events:   1,
			outcomes: []string{"accepted", "duplicate"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := uniqueSource("same-batch/" + tc.name)
			ds := tc.ds(src)
			stored0, bus0, audit0 := 0, 0, 0
			if tc.before != nil {
				c0, _ := startCommitter(t, ingest.Options{})
				for _, d := range tc.before(src) {
					if _, err := c0.Submit(ctxT(t), d); err != nil {
						t.Fatal(err)
					}
					stored0 += len(d.Events)
				}
				c0.Close()
				bus0, audit0 = len(busBatches(t, src)), len(auditRows(t, src))
			}
			c, m := startCommitter(t, ingest.Options{BatchWait: 2 * time.Second, Workers: 1})
			results := make([]ingest.Result, len(ds))
			errs := make([]error, len(ds))
			var wg sync.WaitGroup
			for i, d := range ds {
				wg.Go(func() { results[i], errs[i] = c.Submit(ctxT(t), d) })
				// Queued one after another: the batch keeps this order.
				pgtest.WaitFor(t, 5*time.Second, func() bool { return queued(t, m) == float64(i+1) })
			}
			// The batch waits for company; once all are queued, closing
			// ends the wait and commits them together.
			c.Close()
			wg.Wait()

			if n, sum := commits(t, m); n != 1 || sum != float64(len(ds)) {
				t.Fatalf("%v commits holding %v deliveries, want 1 holding %d", n, sum, len(ds))
			}
			var outcomes []string
			accepted, total := 0, 0
			for i, r := range results {
				if errs[i] != nil {
					t.Fatalf("delivery %d: %v", i, errs[i])
				}
				outcomes = append(outcomes, r.Outcome)
				accepted += r.Accepted
				total += r.Accepted + r.Duplicates
			}
			slices.Sort(outcomes)
			if !slices.Equal(outcomes, tc.outcomes) {
				t.Errorf("outcomes %v, want %v", outcomes, tc.outcomes)
			}
			if accepted != tc.events {
				t.Errorf("accepted %d events in all, want %d", accepted, tc.events)
			}
			wantTotal := 0
			for _, d := range ds {
				wantTotal += len(d.Events)
			}
			if total != wantTotal {
				t.Errorf("accepted+duplicates = %d, want every submitted event counted once (%d)", total, wantTotal)
			}
			stored := storedEventIDs(t, src)
			if len(stored) != stored0+tc.events {
				t.Errorf("stored %d distinct events, want %d", len(stored), stored0+tc.events)
			}
			for id, n := range stored {
				if n != 1 {
					t.Errorf("event %s stored %d times", id, n)
				}
			}
			if msgs := busBatches(t, src)[bus0:]; len(msgs) != 1 || len(msgs[0]) != tc.events {
				t.Errorf("bus messages %v, want one with %d events", msgs, tc.events)
			}
			if n := len(auditRows(t, src)) - audit0; n != len(ds) {
				t.Errorf("%d audit rows, want %d", n, len(ds))
			}
		})
	}
}

// submitted is one Submit call and what it returned.
type submitted struct {
	d   *ingest.Delivery
	res ingest.Result
	err error
}

// submitAll submits ds from `workers` goroutines (delivery i by goroutine
// i%workers) and returns what each call returned.
func submitAll(t *testing.T, c *ingest.Committer, workers int, ds []*ingest.Delivery) []submitted {
	t.Helper()
	out := make([]submitted, len(ds))
	ctx := ctxT(t)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(ds); i += workers {
				res, err := c.Submit(ctx, ds[i])
				out[i] = submitted{d: ds[i], res: res, err: err}
			}
		})
	}
	wg.Wait()
	return out
}

// checkNothingLost checks, for deliveries submitted concurrently, that every
// acknowledged event is stored once, that results add up, and that the bus
// carries each stored event exactly once.
func checkNothingLost(t *testing.T, src string, subs []submitted, distinct int) {
	t.Helper()
	stored := storedEventIDs(t, src)
	accepted, counted, want := 0, 0, 0
	for _, s := range subs {
		if s.err != nil {
			t.Errorf("delivery %s: %v", s.d.DeliveryID, s.err)
			continue
		}
		accepted += s.res.Accepted
		counted += s.res.Accepted + s.res.Duplicates
		want += len(s.d.Events)
		for _, e := range s.d.Events {
			if stored[e.ID] == 0 {
				t.Errorf("event %s acknowledged (delivery %s, %+v) but not in order_events", e.ID, s.d.DeliveryID, s.res)
			}
		}
	}
	if len(stored) != distinct {
		t.Errorf("order_events holds %d distinct events, want %d", len(stored), distinct)
	}
	for id, n := range stored {
		if n != 1 {
			t.Errorf("event %s stored %d times", id, n)
		}
	}
	if accepted != distinct {
		t.Errorf("results accepted %d events in all, want %d (each distinct event once)", accepted, distinct)
	}
	if counted != want {
		t.Errorf("results count %d events as accepted or duplicate, want %d", counted, want)
	}
	onBus := map[string]int{}
	for _, b := range busBatches(t, src) {
		for _, e := range b {
			onBus[e.ID]++
		}
	}
	for id := range stored {
		if onBus[id] != 1 {
			t.Errorf("event %s is on the bus %d times, want 1", id, onBus[id])
		}
	}
	for id := range onBus {
		if stored[id] == 0 {
			t.Errorf("event %s is on the bus but not stored", id)
		}
	}
	if n := len(auditRows(t, src)); n != len(subs) {
		t.Errorf("%d audit rows, want %d (one per delivery)", n, len(subs))
	}
}

func TestConcurrentSubmit(t *testing.T) {
	cases := []struct {
		name       string
		workers    int
		deliveries int
		distinct   int
		// deliveryID and eventsOf shape delivery i.
		deliveryID func(i int) string
		eventsOf   func(i int) []int
		opts       ingest.Options
	}{
		{
			name: "200 deliveries overlapping event ids", workers: 200, deliveries: 200, distinct: 50,
			deliveryID: func(i int) string { return fmt.Sprint("d-", i) },
			eventsOf:   func(i int) []int { return []int{i % 50, (i + 1) % 50, (i * 7) % 50} },
			opts:       ingest.Options{BatchWait: 2 * time.Millisecond},
		},
		{
			name: "nothing lost: 50 goroutines x 20 deliveries", workers: 50, deliveries: 1000, distinct: 700,
			deliveryID: func(i int) string { return fmt.Sprint("d-", i) },
			// Two events each; 2000 carried, 700 distinct, spread so that
			// goroutines race for the same ids.
			eventsOf: func(i int) []int { return []int{i % 700, (i * 13) % 700} },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := uniqueSource("concurrent/" + tc.name)
			c, _ := startCommitter(t, tc.opts)
			ds := make([]*ingest.Delivery, tc.deliveries)
			for i := range ds {
				var es []order.Event
				for _, n := range tc.eventsOf(i) {
					es = append(es, ev(src, fmt.Sprint("e-", n)))
				}
				ds[i] = delivery(src, tc.deliveryID(i), es...)
			}
			subs := submitAll(t, c, tc.workers, ds)
			checkNothingLost(t, src, subs, tc.distinct)
		})
	}
}

func TestClose(t *testing.T) {
	t.Run("drains queued deliveries", func(t *testing.T) {
		const n = 300
		src := uniqueSource("close/drain")
		// One delivery per commit, so Close finds a queue to drain.
		c, m := startCommitter(t, ingest.Options{MaxBatchEvents: 1, Workers: 1})
		var done atomic.Int64
		results := make([]submitted, n)
		var wg sync.WaitGroup
		for i := range n {
			d := delivery(src, fmt.Sprint("d-", i), ev(src, fmt.Sprint("e-", i)))
			wg.Go(func() {
				res, err := c.Submit(ctxT(t), d)
				results[i] = submitted{d: d, res: res, err: err}
				done.Add(1)
			})
		}
		pgtest.WaitFor(t, 10*time.Second, func() bool { return queued(t, m) >= n/3 })
		atClose, finished := queued(t, m), done.Load()
		c.Close()
		if !waitTimeout(&wg, 20*time.Second) {
			t.Fatal("Submit calls still blocked after Close returned")
		}
		if g := queued(t, m); g != 0 {
			t.Errorf("queue gauge %v after Close, want 0", g)
		}
		ok := 0
		var acked []submitted
		for _, r := range results {
			switch {
			case r.err == nil:
				ok++
				acked = append(acked, r)
				if r.res.Outcome != ingest.OutcomeAccepted {
					t.Errorf("delivery %s: %+v", r.d.DeliveryID, r.res)
				}
			case !errors.Is(r.err, ingest.ErrClosed):
				t.Errorf("delivery %s: %v, want success or ErrClosed", r.d.DeliveryID, r.err)
			}
		}
		// Everything queued when Close was called was committed, not dropped.
		if ok < int(atClose)+int(finished) {
			t.Errorf("%d deliveries committed, but %v were queued and %d done at Close", ok, atClose, finished)
		}
		checkNothingLost(t, src, acked, ok)
	})

	t.Run("submit after close", func(t *testing.T) {
		src := uniqueSource("close/after")
		c, _ := startCommitter(t, ingest.Options{})
		c.Close()
		c.Close() // idempotent
		_, err := c.Submit(ctxT(t), delivery(src, "d-late", ev(src, "e-late")))
		if !errors.Is(err, ingest.ErrClosed) {
			t.Fatalf("Submit after Close: %v, want ErrClosed", err)
		}
		if n := len(storedEventIDs(t, src)) + len(auditRows(t, src)); n != 0 {
			t.Errorf("a refused delivery left %d rows", n)
		}
	})
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	ch := make(chan struct{})
	go func() { wg.Wait(); close(ch) }()
	select {
	case <-ch:
		return true
	case <-time.After(d):
		return false
	}
}

// TestRedeliveries has a platform retry deliveries while the first attempts
// are still being committed: the same delivery ids land, in varying order,
// in two batches committing at the same time. Every attempt must get an
// answer (no commit may fail), and each id be accepted exactly once.
func TestRedeliveries(t *testing.T) {
	const bursts, ids, attempts = 8, 20, 10
	src := uniqueSource("redeliveries")
	// Two workers collecting at once split each burst between two batches.
	c, _ := startCommitter(t, ingest.Options{Workers: 2, BatchWait: 20 * time.Millisecond})
	r := rand.New(rand.NewPCG(1, 2))
	var all []submitted
	for b := range bursts {
		var ds []*ingest.Delivery
		for range attempts {
			for _, k := range r.Perm(ids) {
				ds = append(ds, delivery(src, fmt.Sprintf("d-%d-%d", b, k), ev(src, fmt.Sprintf("e-%d-%d", b, k))))
			}
		}
		all = append(all, submitAll(t, c, 128, ds)...)
	}
	acceptedPerID := map[string]int{}
	for _, s := range all {
		if s.err == nil && s.res.Outcome == ingest.OutcomeAccepted {
			acceptedPerID[s.d.DeliveryID]++
		}
	}
	for id, n := range acceptedPerID {
		if n != 1 {
			t.Errorf("delivery %s accepted %d times", id, n)
		}
	}
	checkNothingLost(t, src, all, bursts*ids)
}
