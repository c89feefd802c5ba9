package events_test

import (
	"encoding/json"
	"fmt"
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

// changesOf is a projection commit's change message: n twins, their stored
// documents, the backlog and an alert.
func changesOf(tb testing.TB, n int) events.TwinChanges {
	tb.Helper()
	at := time.Date(2026, 11, 11, 21, 0, 0, 0, time.UTC)
	ch := events.TwinChanges{
		Backlog: events.Backlog{Counts: map[twin.Stage]int64{twin.StagePaid: int64(n)}, At: at},
		Alerts:  []events.AlertSnapshot{{ID: 3, Rule: "late", State: "open", Channel: "douyin", OrderNo: "6900000", RaisedAt: at, Raised: true}},
	}
	for i := range n {
		k := order.Key{Channel: "douyin", OrderNo: fmt.Sprintf("69%05d", i)}
		tw := twin.New(k)
		amount := order.Money(12900)
		tw.ApplyAll([]order.Event{
			{ID: "c" + k.OrderNo, Source: "douyin", Kind: order.KindCreated, System: order.SystemChannel, OccurredAt: at, Order: k,
				Data: order.Data{Amount: &amount, Shop: "<旗舰店>", Receiver: &order.Receiver{Name: "张三", Phone: "13800001234", Address: "文三路 1 号"}}},
			{ID: "p" + k.OrderNo, Source: "douyin", Kind: order.KindPaid, System: order.SystemChannel, OccurredAt: at.Add(time.Minute), Order: k},
		})
		doc, err := json.Marshal(tw)
		if err != nil {
			tb.Fatal(err)
		}
		var tags []string
		if i%2 == 0 {
			tags = []string{"加急"}
		}
		ch.Twins = append(ch.Twins, events.TwinSnapshot{ID: int64(i + 1), Twin: tw, Tags: tags, Doc: doc})
	}
	return ch
}

// The hand-written payload reads back as what json.Marshal writes, and
// names each twin's order beside it.
func TestTwinChangesEncode(t *testing.T) {
	for _, n := range []int{0, 1, 7} {
		ch := changesOf(t, n)
		if n == 0 {
			ch.Twins = nil
		}
		got, err := ch.Encode()
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(ch)
		if err != nil {
			t.Fatal(err)
		}
		var g, w any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("n=%d: %v in %s", n, err, got)
		}
		if err := json.Unmarshal(want, &w); err != nil {
			t.Fatal(err)
		}
		gb, _ := json.Marshal(g)
		wb, _ := json.Marshal(w)
		if string(gb) != string(wb) {
			t.Fatalf("n=%d: payloads differ:\n%s\n%s", n, gb, wb)
		}
		var back struct {
			Twins []struct {
				Key  order.Key  `json:"key"`
				Twin *twin.Twin `json:"twin"`
			} `json:"twins"`
		}
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatal(err)
		}
		for i, s := range back.Twins {
			if s.Key != ch.Twins[i].Twin.Key || s.Twin.Key != s.Key {
				t.Fatalf("n=%d: twin %d named %v, holds %v", n, i, s.Key, s.Twin.Key)
			}
		}
	}
}

// BenchmarkTwinChanges encodes one projection commit's change message of
// 20 twins: by hand (what the projection publishes) and by json.Marshal.
func BenchmarkTwinChanges(b *testing.B) {
	ch := changesOf(b, 20)
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ch.Encode(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(ch); err != nil {
				b.Fatal(err)
			}
		}
	})
}
