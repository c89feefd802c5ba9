package ingest_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/towerhq/tower/internal/ingest"
)

// TestPruneRefused: refused deliveries past their retention go, in
// batches; recent refusals and every verified delivery stay.
func TestPruneRefused(t *testing.T) {
	db := migrated(t)
	c, _ := startCommitter(t, ingest.Options{})
	ctx := ctxT(t)
	src := uniqueSource("prune")
	now := time.Now()
	submit := func(d *ingest.Delivery) {
		t.Helper()
		if _, err := c.Submit(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 7 {
		// Refused long ago, refused lately.
		for _, at := range []time.Time{now.Add(-30 * 24 * time.Hour), now.Add(-time.Hour)} {
			submit(&ingest.Delivery{Source: src, ReceivedAt: at.Add(time.Duration(i) * time.Second), Headers: map[string]string{},
				Body: []byte("x"), Outcome: ingest.OutcomeBadSignature, Status: http.StatusUnauthorized, Err: errors.New("bad signature")})
		}
	}
	old := delivery(src, "old-accepted", ev(src, "e-old"))
	old.ReceivedAt = now.Add(-60 * 24 * time.Hour)
	submit(old)

	n, err := ingest.PruneRefused(ctx, db, now.Add(-7*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if n < 7 {
		t.Errorf("pruned %d rows, want at least the 7 old refusals", n)
	}
	var refused, verified int
	for _, r := range auditRows(t, src) {
		if r.Verified {
			verified++
		} else {
			refused++
		}
	}
	if refused != 7 || verified != 1 {
		t.Errorf("left %d refused and %d verified deliveries, want 7 and 1", refused, verified)
	}
}
