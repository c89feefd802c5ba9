package events_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/domain/twin"
	"github.com/towerhq/tower/events"
)

// A snapshot carrying the twin's stored encoding reads back as the same
// snapshot as one encoded from the twin.
func TestTwinSnapshotReusesTheStoredDocument(t *testing.T) {
	k := order.Key{Channel: "douyin", OrderNo: "6900001"}
	tw := twin.New(k)
	at := time.Date(2026, 11, 11, 21, 0, 0, 0, time.UTC)
	tw.ApplyAll([]order.Event{{ID: "e1", Source: "douyin", Kind: order.KindPaid, System: order.SystemChannel, OccurredAt: at, Order: k}})
	doc, err := json.Marshal(tw)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := json.Marshal(events.TwinSnapshot{ID: 7, Twin: tw, Tags: []string{"加急"}})
	if err != nil {
		t.Fatal(err)
	}
	reused, err := json.Marshal(events.TwinSnapshot{ID: 7, Twin: tw, Tags: []string{"加急"}, Doc: doc})
	if err != nil {
		t.Fatal(err)
	}
	if string(plain) != string(reused) {
		t.Fatalf("encodings differ:\n%s\n%s", plain, reused)
	}
	var back events.TwinSnapshot
	if err := json.Unmarshal(reused, &back); err != nil || back.Twin == nil || back.Twin.Key != k || back.Twin.Stage != tw.Stage {
		t.Fatalf("decoded %+v, %v", back, err)
	}
}
