package app

import (
	"strings"
	"testing"
	"time"

	"github.com/towerhq/tower/domain/access"
)

// TestViewFields: the role views' additions through the API. Customer
// service reads the answer of an order pushed by signed webhooks, in both
// languages; the operations manager sees the queue sizes and the rules
// firing most; IT reads the robot delivery log (empty here, no robot).
func TestViewFields(t *testing.T) {
	s := startServer(t)
	ch := uniq("vw")
	no := uniq("V")
	out := time.Now().Add(-25*time.Minute - 30*time.Second)
	if st, body := s.send(t, "vw1-"+no,
		ev("p-"+no, "order.paid", ch, no, out.Add(-time.Hour), map[string]any{"warehouse": "HZ-01"}),
		ev("o-"+no, "wms.outbound", ch, no, out, map[string]any{"warehouse": "HZ-01", "courier": "SF", "trackingNo": "SF" + no}),
	); st != 200 {
		t.Fatalf("webhook: %d %v", st, body)
	}
	waitStage(t, s, ch, no, "OUTBOUND")

	cs := s.tokenFor(t, access.CS)
	q := `query($t: String!) { orderLookup(text: $t) { orderNo zh: answer { state shipped divergent text } en: answer(lang: "en-US") { text } } }`
	data, errs := s.gqlAs(t, cs, q, map[string]any{"t": "SF" + no})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	hits := data["orderLookup"].([]any)
	if len(hits) != 1 {
		t.Fatalf("lookup by tracking number: %v", hits)
	}
	o := hits[0].(map[string]any)
	zh, en := o["zh"].(map[string]any), o["en"].(map[string]any)
	if zh["state"] != "outbound_not_collected" || zh["shipped"] != false || zh["divergent"] != true {
		t.Errorf("answer %v", zh)
	}
	if want := "仓库显示已出库，但快递尚无揽收记录（已 25 分钟）——尚未真正发出"; zh["text"] != want {
		t.Errorf("zh-CN %q, want %q", zh["text"], want)
	}
	if !strings.HasPrefix(en["text"].(string), "The warehouse says outbound, but no courier has collected it") {
		t.Errorf("en-US %q", en["text"])
	}

	// The courier collects it: the answer says it has really left.
	if st, body := s.send(t, "vw2-"+no, ev("k-"+no, "courier.collected", ch, no, time.Now(), map[string]any{"trackingNo": "SF" + no})); st != 200 {
		t.Fatalf("webhook: %d %v", st, body)
	}
	waitStage(t, s, ch, no, "COLLECTED")
	data, errs = s.gqlAs(t, cs, q, map[string]any{"t": no})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	zh = data["orderLookup"].([]any)[0].(map[string]any)["zh"].(map[string]any)
	if zh["state"] != "shipped" || zh["shipped"] != true || !strings.HasPrefix(zh["text"].(string), "已出库，快递已揽收（顺丰 SF"+no) {
		t.Errorf("after collection: %v", zh)
	}

	ops := s.tokenFor(t, access.Ops)
	data, errs = s.gqlAs(t, ops, `query($f: Time!, $to: Time!) {
		workQueueSizes { queue open claimed oldestOpenSince }
		topRules(from: $f, to: $to) { rule kind raised open hits }
	}`, map[string]any{"f": time.Now().Add(-time.Hour).Format(time.RFC3339), "to": time.Now().Add(time.Minute).Format(time.RFC3339)})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var queues []string
	for _, q := range data["workQueueSizes"].([]any) {
		queues = append(queues, q.(map[string]any)["queue"].(string))
	}
	if strings.Join(queues, ",") != strings.Join(access.Ops.Queues(), ",") {
		t.Errorf("queues %v, want the ones ops reads %v", queues, access.Ops.Queues())
	}
	if _, ok := data["topRules"].([]any); !ok {
		t.Errorf("topRules %v", data["topRules"])
	}
	// Scoped to a warehouse nobody ships from: nothing counted, and no
	// hits (they cannot be narrowed).
	data, errs = s.gqlAs(t, ops, `query($f: Time!, $to: Time!) { workQueueSizes(warehouse: "NOWHERE") { open claimed } topRules(from: $f, to: $to, warehouse: "NOWHERE") { rule } }`,
		map[string]any{"f": time.Now().Add(-time.Hour).Format(time.RFC3339), "to": time.Now().Format(time.RFC3339)})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	for _, q := range data["workQueueSizes"].([]any) {
		if m := q.(map[string]any); m["open"].(float64) != 0 || m["claimed"].(float64) != 0 {
			t.Errorf("queue in an empty warehouse: %v", m)
		}
	}
	if rs := data["topRules"].([]any); len(rs) != 0 {
		t.Errorf("rules in an empty warehouse: %v", rs)
	}
	// A warehouse lead asking for another warehouse is refused.
	wh := s.tokenFor(t, access.Warehouse, "warehouse=HZ-01")
	if _, errs := s.gqlAs(t, wh, `{ workQueueSizes(warehouse: "SH-02") { open } }`, nil); len(errs) == 0 {
		t.Error("a warehouse lead counted another warehouse's queues")
	}

	it := s.tokenFor(t, access.IT)
	data, errs = s.gqlAs(t, it, `{ robotDeliveries(first: 5) { id at robot status attempt error } }`, nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if _, ok := data["robotDeliveries"].([]any); !ok {
		t.Errorf("robotDeliveries %v", data)
	}
	if _, errs := s.gqlAs(t, it, `{ robotDeliveries(status: "lost") { id } }`, nil); len(errs) == 0 {
		t.Error("an unknown status was accepted")
	}
}
