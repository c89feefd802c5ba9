package notifier_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/uptrace/bun"

	"github.com/towerhq/tower/domain/notify"
	"github.com/towerhq/tower/events"
	"github.com/towerhq/tower/internal/config"
	"github.com/towerhq/tower/internal/notifications/notifier"
	"github.com/towerhq/tower/internal/notifications/wecom"
	"github.com/towerhq/tower/internal/pgtest"
	"github.com/towerhq/tower/migrations"
)

var testDB *bun.DB

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, "notifier", &testDB)) }

// A bus message handled twice (the node died between the outbox commit and
// the acknowledgement, and the bus redelivered it) is one robot message.
// The notifier handling it has not started its sender, as if it died
// right after; the next notifier sends.
func TestRedeliveredMessageIsSentOnce(t *testing.T) {
	ctx := t.Context()
	if err := migrations.Migrate(ctx, testDB, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	fake := wecom.NewFake("k", nil)
	srv := httptest.NewServer(fake)
	defer srv.Close()
	file := config.Notify{
		Channels:    []notify.Channel{{Name: "ops", Type: "wecom", WebhookURL: srv.URL + "/cgi-bin/webhook/send?key=k"}},
		GroupWindow: 100 * time.Millisecond,
	}
	opts := notifier.Options{DB: testDB, File: file, BaseURL: "https://tower.example", Logger: slog.New(slog.DiscardHandler)}
	payload, _ := json.Marshal(events.AlertChanges{Alerts: []events.AlertSnapshot{{
		ID: 42, Rule: "vague_address", Kind: "suspicious_address", Severity: "warning", State: "FIRING",
		Channel: "douyin", OrderNo: "N-1", Scope: "HZ-01", Summary: "地址模糊", RaisedAt: time.Now(), Raised: true,
	}}})
	died := notifier.New(opts)
	for range 2 {
		if err := died.Handle(message.NewMessage("m-1", payload)); err != nil {
			t.Fatal(err)
		}
	}

	next := notifier.New(opts)
	runCtx, cancel := context.WithCancel(ctx)
	if err := next.Start(runCtx); err != nil {
		t.Fatal(err)
	}
	pgtest.WaitFor(t, 10*time.Second, func() bool { return len(fake.Messages()) > 0 })
	time.Sleep(500 * time.Millisecond) // a second message would show by now
	cancel()
	next.Wait()
	if msgs := fake.Messages(); len(msgs) != 1 {
		t.Fatalf("%d robot messages, want 1: %+v", len(msgs), msgs)
	}
	var rows int
	if err := testDB.QueryRowContext(ctx, `SELECT count(*) FROM notification_outbox WHERE channel = 'ops' AND state = 'sent'`).Scan(&rows); err != nil || rows != 1 {
		t.Errorf("%d sent outbox rows (%v), want 1", rows, err)
	}
}
