package audit_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/towerhq/tower/internal/audit"
	"github.com/towerhq/tower/internal/pgtest"
	"github.com/towerhq/tower/migrations"
)

var testDB *bun.DB

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, "audit", &testDB)) }

// Entries list newest first across pages, keep at most a bounded subject,
// and older ones go at retention.
func TestRecordListPrune(t *testing.T) {
	ctx := context.Background()
	if err := migrations.Migrate(ctx, testDB, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 11, 11, 20, 0, 0, 0, time.UTC)
	for i := range 5 {
		e := audit.Entry{At: base.Add(time.Duration(i) * time.Hour), Actor: "alice", Action: "rule.saved", Subject: "rule r" + string(rune('0'+i)), Remote: "10.0.0.1"}
		if err := audit.Record(ctx, testDB, e); err != nil {
			t.Fatal(err)
		}
	}
	long := strings.Repeat("长", 400)
	if err := audit.Record(ctx, testDB, audit.Entry{At: base.Add(10 * time.Hour), Actor: "bob", Action: "x", Subject: long}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []audit.Entry{{Action: "x", At: base}, {Actor: "x", At: base}, {Actor: "x", Action: "y"}} {
		if err := audit.Record(ctx, testDB, bad); err == nil {
			t.Errorf("%+v recorded", bad)
		}
	}

	var got []string
	cur := ""
	for {
		p, err := audit.List(ctx, testDB, 2, cur)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Entries {
			got = append(got, e.Subject)
		}
		if !p.HasNext {
			break
		}
		cur = p.Cursors[len(p.Cursors)-1]
	}
	if len(got) != 6 || got[1] != "rule r4" || got[5] != "rule r0" {
		t.Fatalf("listed %q", got)
	}
	if len(got[0]) > 260 || !strings.HasSuffix(got[0], "…") {
		t.Errorf("a long subject kept %d bytes", len(got[0]))
	}
	if _, err := audit.List(ctx, testDB, 2, "not-a-cursor"); !errors.Is(err, audit.ErrBadCursor) {
		t.Errorf("bad cursor: %v", err)
	}

	n, err := audit.Prune(ctx, testDB, base.Add(2*time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("pruned %d, %v; want the 2 older entries", n, err)
	}
}

func TestRemote(t *testing.T) {
	t.Parallel()
	ctx := audit.WithRemote(context.Background(), "203.0.113.9")
	if audit.RemoteFrom(ctx) != "203.0.113.9" || audit.RemoteFrom(context.Background()) != "" {
		t.Fatal("remote not carried")
	}
}
