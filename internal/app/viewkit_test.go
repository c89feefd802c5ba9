package app

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/towerhq/tower/domain/access"
	"github.com/towerhq/tower/events"
	"github.com/towerhq/tower/internal/audit"
	"github.com/towerhq/tower/internal/auth"
	"github.com/towerhq/tower/internal/storage"
)

// viewkitOrders are the orders of one test's channels and warehouses:
// two from sendOrder (open alerts, in the warehouse), one paid 26 hours ago
// that missed its ship-by deadline an hour ago (late, over the SLA), and
// one that left on time.
type viewkitOrders struct {
	chA, chB, whA, whB       string
	s1, s2, s3, late, onTime string
	phone1                   string
	// shop of the late order: a formula, to see the export keep it text.
	shop     string
	from, to time.Time
}

func sendViewkitOrders(t *testing.T, s *testServer) viewkitOrders {
	t.Helper()
	o := viewkitOrders{chA: uniq("va"), chB: uniq("vb"), whA: uniq("VWA"), whB: uniq("VWB"),
		s1: uniq("V1"), s2: uniq("V2"), s3: uniq("V3"), late: uniq("VL"), onTime: uniq("VO")}
	now := time.Now()
	o.from, o.to = now.Add(-24*time.Hour), now.Add(time.Hour)
	o.shop = "=cmd|" + uniq("shop")
	o.phone1, _ = sendOrder(t, s, o.chA, o.whA, o.s1)
	sendOrder(t, s, o.chA, o.whB, o.s2)
	sendOrder(t, s, o.chB, o.whA, o.s3)
	paid := now.Add(-26 * time.Hour)
	if st, body := s.send(t, "m-"+o.late, ev("p-"+o.late, "order.paid", o.chA, o.late, paid,
		map[string]any{"amount": "10.00", "warehouse": o.whA, "shop": o.shop, "shipBy": now.Add(-time.Hour).Format(time.RFC3339)})); st != 200 {
		t.Fatalf("webhook: %d %v", st, body)
	}
	// Out on time and collected at once: nothing abnormal about it.
	out := ev("w-"+o.onTime, "wms.outbound", o.chA, o.onTime, now.Add(-150*time.Minute), map[string]any{"warehouse": o.whA, "courier": "sf", "trackingNo": "SF" + o.onTime})
	out["system"] = "wms"
	collected := ev("c-"+o.onTime, "courier.collected", o.chA, o.onTime, now.Add(-149*time.Minute), nil)
	collected["system"] = "courier"
	if st, body := s.send(t, "m-"+o.onTime, ev("p-"+o.onTime, "order.paid", o.chA, o.onTime, now.Add(-3*time.Hour),
		map[string]any{"amount": "20.00", "warehouse": o.whA, "shipBy": now.Add(-2 * time.Hour).Format(time.RFC3339)}), out, collected); st != 200 {
		t.Fatalf("webhook: %d %v", st, body)
	}
	waitStage(t, s, o.chA, o.onTime, "COLLECTED")
	waitStage(t, s, o.chA, o.late, "PAID")
	return o
}

// drill lists the order numbers of orders(filter), as token sees them.
func drill(t *testing.T, s *testServer, token string, filter map[string]any) ([]string, []map[string]any) {
	t.Helper()
	data, errs := s.gqlAs(t, token, `query($f:OrderFilter){orders(filter:$f,first:100){edges{node{orderNo shop receiver{name phone}}} pageInfo{hasNextPage}}}`,
		map[string]any{"f": filter})
	if len(errs) > 0 {
		return nil, errs
	}
	var nos []string
	for _, e := range data["orders"].(map[string]any)["edges"].([]any) {
		nos = append(nos, e.(map[string]any)["node"].(map[string]any)["orderNo"].(string))
	}
	sort.Strings(nos)
	return nos, nil
}

func sorted(ss ...string) []string {
	out := slices.Clone(ss)
	sort.Strings(out)
	return out
}

// waitDrill waits until the drill-down lists want (alerts are raised after
// the twins are projected).
func waitDrill(t *testing.T, s *testServer, filter map[string]any, want []string) {
	t.Helper()
	var got []string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var errs []map[string]any
		if got, errs = drill(t, s, s.Token, filter); len(errs) > 0 {
			t.Fatalf("orders(%v): %v", filter, errs)
		}
		if slices.Equal(got, want) {
			return
		}
	}
	t.Fatalf("orders(%v) = %v, want %v", filter, got, want)
}

// TestDrillDown: from each figure to the orders behind it. The lists hold
// the orders the figures count (late shipments against onTimeShip, waiting
// over the SLA against waiting), narrowed by the view's filters and the
// caller's scopes.
func TestDrillDown(t *testing.T) {
	s := startServer(t)
	o := sendViewkitOrders(t, s)
	win := func(f map[string]any) map[string]any {
		f["from"], f["to"] = o.from.Format(time.RFC3339), o.to.Format(time.RFC3339)
		return f
	}
	waitDrill(t, s, win(map[string]any{"set": "ABNORMAL", "channel": o.chA}), sorted(o.s1, o.s2))
	cases := []struct {
		name   string
		filter map[string]any
		want   []string
	}{
		{"late shipments", win(map[string]any{"set": "LATE_SHIP", "channel": o.chA}), []string{o.late}},
		{"abnormal in one warehouse", win(map[string]any{"set": "ABNORMAL", "channel": o.chA, "warehouse": o.whA}), []string{o.s1}},
		{"waiting", map[string]any{"set": "WAITING", "channel": o.chA}, sorted(o.s1, o.s2, o.late)},
		{"waiting over the SLA", map[string]any{"set": "WAITING_OVER_SLA", "channel": o.chA}, []string{o.late}},
		{"backlog of a stage", map[string]any{"set": "BACKLOG", "stages": []string{"IN_WAREHOUSE"}, "warehouse": o.whA}, sorted(o.s1, o.s3)},
		{"backlog, stage and channel", map[string]any{"set": "BACKLOG", "stage": "PAID", "channel": o.chA}, []string{o.late}},
		{"by shop", map[string]any{"shop": o.shop}, []string{o.late}},
		{"created in the window", win(map[string]any{"channel": o.chB}), []string{o.s3}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, errs := drill(t, s, s.Token, c.filter)
			if len(errs) > 0 {
				t.Fatalf("errors: %v", errs)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}

	t.Run("the lists hold what the tiles count", func(t *testing.T) {
		data, errs := s.gql(t, `query($f:Time!,$t:Time!,$c:String){figures(from:$f,to:$t,channel:$c){onTimeShip{count of} waiting{count of} abnormal{count}}}`,
			map[string]any{"f": o.from.Format(time.RFC3339), "t": o.to.Format(time.RFC3339), "c": o.chA})
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		f := data["figures"].(map[string]any)
		n := func(k, f2 string) int { return int(f[k].(map[string]any)[f2].(float64)) }
		if late := n("onTimeShip", "of") - n("onTimeShip", "count"); late != 1 {
			t.Errorf("onTimeShip misses %d, the list 1", late)
		}
		if n("waiting", "count") != 1 || n("waiting", "of") != 3 {
			t.Errorf("waiting %v, the lists 1 of 3", f["waiting"])
		}
		if n("abnormal", "count") != 2 {
			t.Errorf("abnormal %v, the list 2", f["abnormal"])
		}
	})

	t.Run("scopes narrow", func(t *testing.T) {
		tok := s.tokenFor(t, access.Warehouse, "warehouse="+o.whA)
		got, errs := drill(t, s, tok, map[string]any{"set": "BACKLOG", "channel": o.chA})
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		if want := sorted(o.s1, o.late, o.onTime); !slices.Equal(got, want) {
			t.Errorf("warehouse=%s sees %v, want %v", o.whA, got, want)
		}
	})

	t.Run("filter options within scopes", func(t *testing.T) {
		opts := func(token string) map[string][]string {
			data, errs := s.gqlAs(t, token, `{filterOptions{channels shops warehouses}}`, nil)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			out := map[string][]string{}
			for k, vs := range data["filterOptions"].(map[string]any) {
				for _, v := range vs.([]any) {
					out[k] = append(out[k], v.(string))
				}
			}
			return out
		}
		all := opts(s.Token)
		for k, want := range map[string][]string{"channels": {o.chA, o.chB}, "warehouses": {o.whA, o.whB}, "shops": {o.shop}} {
			for _, w := range want {
				if !slices.Contains(all[k], w) {
					t.Errorf("%s %v lack %s", k, all[k], w)
				}
			}
			if !slices.IsSorted(all[k]) {
				t.Errorf("%s not sorted: %v", k, all[k])
			}
		}
		scoped := opts(s.tokenFor(t, access.Warehouse, "warehouse="+o.whA))
		if !slices.Equal(scoped["warehouses"], []string{o.whA}) || slices.Contains(scoped["channels"], "") {
			t.Errorf("warehouse=%s is offered %v", o.whA, scoped)
		}
	})

	for _, bad := range []map[string]any{
		{"set": "LATE_SHIP"},
		{"set": "ABNORMAL", "from": o.to.Format(time.RFC3339), "to": o.from.Format(time.RFC3339)},
		{"from": o.from.Add(-40 * 24 * time.Hour).Format(time.RFC3339), "to": o.to.Format(time.RFC3339)},
	} {
		if _, errs := drill(t, s, s.Token, bad); len(errs) == 0 || errs[0]["extensions"].(map[string]any)["code"] != "BAD_USER_INPUT" {
			t.Errorf("orders(%v): errors %v, want BAD_USER_INPUT", bad, errs)
		}
	}
}

// export GETs the CSV export with query q as token.
func export(t *testing.T, s *testServer, token string, q url.Values, lang string) (int, http.Header, [][]string) {
	t.Helper()
	return exportCSV(t, s, "orders.csv", token, q, lang)
}

func exportCSV(t *testing.T, s *testServer, name, token string, q url.Values, lang string) (int, http.Header, [][]string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/api/export/"+name+"?"+q.Encode(), nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if lang != "" {
		req.Header.Set("Accept-Language", lang)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, resp.Header, nil
	}
	text, ok := strings.CutPrefix(string(raw), "\ufeff")
	if !ok {
		t.Errorf("no byte-order mark")
	}
	rows, err := csv.NewReader(strings.NewReader(text)).ReadAll()
	if err != nil {
		t.Fatalf("csv: %v\n%s", err, raw)
	}
	return resp.StatusCode, resp.Trailer, rows
}

// TestExportOrders: the CSV export writes the orders of the view's filters,
// within the caller's scopes, with personal data masked as the orders query
// masks it; a role that may not list orders gets 403; every export is in
// the audit log.
func TestExportOrders(t *testing.T) {
	s := startServer(t)
	o := sendViewkitOrders(t, s)
	cs := s.tokenFor(t, access.CS)
	wh := s.tokenFor(t, access.Warehouse, "warehouse="+o.whA)
	it := s.tokenFor(t, access.IT)
	window := url.Values{"from": {o.from.Format(time.RFC3339)}, "to": {o.to.Format(time.RFC3339)}}
	with := func(vs url.Values, kv ...string) url.Values {
		out := url.Values{}
		for k, v := range vs {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	cases := []struct {
		name     string
		token    string
		q        url.Values
		lang     string
		status   int
		want     []string // order numbers
		unmasked bool
		header   string
	}{
		{"cs: masked", cs, url.Values{"channel": {o.chA}}, "", 200, sorted(o.s1, o.s2, o.late, o.onTime), false, "渠道"},
		{"warehouse: its warehouse only", wh, url.Values{"channel": {o.chA}}, "zh-CN,zh;q=0.9", 200, sorted(o.s1, o.late, o.onTime), false, "渠道"},
		{"admin: unmasked, English", s.Token, url.Values{"channel": {o.chA}}, "en-US,en;q=0.8", 200, sorted(o.s1, o.s2, o.late, o.onTime), true, "Channel"},
		{"a set narrows", cs, with(window, "set", "LATE_SHIP", "channel", o.chA), "", 200, []string{o.late}, false, "渠道"},
		{"a warehouse narrows", cs, with(window, "set", "ABNORMAL", "warehouse", o.whB), "", 200, []string{o.s2}, false, "渠道"},
		{"it may not", it, url.Values{"channel": {o.chA}}, "", 403, nil, false, ""},
		{"no credentials", "", url.Values{"channel": {o.chA}}, "", 401, nil, false, ""},
		{"a bad set", cs, url.Values{"set": {"EVERYTHING"}}, "", 400, nil, false, ""},
		{"a set without its window", cs, url.Values{"set": {"LATE_SHIP"}}, "", 400, nil, false, ""},
	}
	waitDrill(t, s, map[string]any{"set": "ABNORMAL", "warehouse": o.whB, "from": o.from.Format(time.RFC3339), "to": o.to.Format(time.RFC3339)}, []string{o.s2})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, trailer, rows := export(t, s, c.token, c.q, c.lang)
			if status != c.status {
				t.Fatalf("status %d, want %d", status, c.status)
			}
			if status != 200 {
				return
			}
			if rows[0][0] != c.header || !strings.Contains(strings.Join(rows[0], ","), "(Asia/Shanghai)") {
				t.Errorf("header %v", rows[0])
			}
			var nos []string
			for _, r := range rows[1:] {
				nos = append(nos, r[1])
				if r[1] == o.s1 {
					if got := r[10] == o.phone1; got != c.unmasked {
						t.Errorf("phone %q: unmasked %v, want %v", r[10], got, c.unmasked)
					}
					if !c.unmasked && (r[9] != "张*" || !strings.Contains(r[10], "****")) {
						t.Errorf("receiver %q %q not masked", r[9], r[10])
					}
				}
				if r[1] == o.late && r[3] != "'"+o.shop {
					t.Errorf("shop %q: a formula left as one", r[3])
				}
			}
			sort.Strings(nos)
			if !slices.Equal(nos, c.want) {
				t.Errorf("orders %v, want %v", nos, c.want)
			}
			if trailer.Get("X-Export-Rows") != "" && trailer.Get("X-Export-Truncated") != "false" {
				t.Errorf("trailer %v", trailer)
			}
		})
	}

	t.Run("bounded", func(t *testing.T) {
		// The server stops at 100,000 rows; the same reader with a bound of 2.
		var n int
		count, truncated, err := storage.NewOrders(s.App.DB).Each(context.Background(), storage.Filter{Channel: o.chA},
			storage.EachOptions{Max: 2, Chunk: 1, StatementTimeout: time.Second}, func(events.TwinSnapshot) error { n++; return nil })
		if err != nil || count != 2 || n != 2 || !truncated {
			t.Errorf("Each: %d orders (%d handed), truncated %v, err %v", count, n, truncated, err)
		}
	})

	t.Run("audited", func(t *testing.T) {
		var es []audit.Entry
		if err := s.App.DB.NewRaw(`SELECT at, actor, action, subject, remote FROM audit_log WHERE action = 'orders.exported' AND subject LIKE ?`,
			"%"+o.chA+"%").Scan(context.Background(), &es); err != nil {
			t.Fatal(err)
		}
		var unmasked int
		for _, e := range es {
			if strings.HasSuffix(e.Subject, "(unmasked)") {
				unmasked++
			}
		}
		// Every 200 above with chA in its filter: 3 plain, 1 unmasked, the late set.
		if len(es) != 4 || unmasked != 1 {
			t.Errorf("audit entries %+v", es)
		}
	})
}

// TestExportSystem: the IT view's export writes its range's connectors and
// handlers, for IT and admins only, in the caller's language, audited.
func TestExportSystem(t *testing.T) {
	s := startServer(t)
	no := uniq("X")
	if st, body := s.send(t, "xs-"+no, ev("p-"+no, "order.paid", uniq("xs"), no, time.Now(), nil)); st != 200 {
		t.Fatalf("webhook: %d %v", st, body)
	}
	it := s.tokenFor(t, access.IT)
	ops := s.tokenFor(t, access.Ops)
	// A channel of the test's own names its exports in the audit log (the
	// ERP serves every channel, so it stays listed).
	ch := uniq("xs-ch")
	lastHour := url.Values{"from": {time.Now().Add(-time.Hour).Format(time.RFC3339)}, "channel": {ch}}
	cases := []struct {
		name   string
		token  string
		q      url.Values
		lang   string
		status int
		header string
		erp    bool
	}{
		{"it, the last hour", it, lastHour, "", 200, "类别", true},
		{"admin, English", s.Token, lastHour, "en-US", 200, "Kind", true},
		{"a range before any traffic", it, url.Values{"from": {time.Now().Add(-3 * time.Hour).Format(time.RFC3339)},
			"to": {time.Now().Add(-2 * time.Hour).Format(time.RFC3339)}, "channel": {ch}}, "", 200, "类别", false},
		{"ops may not", ops, lastHour, "", 403, "", false},
		{"a bad time", it, url.Values{"from": {"yesterday"}}, "", 400, "", false},
		{"a range ending before it starts", it, url.Values{"from": {time.Now().Format(time.RFC3339)}, "to": {time.Now().Add(-time.Hour).Format(time.RFC3339)}}, "", 400, "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, _, rows := exportCSV(t, s, "system.csv", c.token, c.q, c.lang)
			if status != c.status {
				t.Fatalf("status %d, want %d", status, c.status)
			}
			if status != 200 {
				return
			}
			if rows[0][0] != c.header || !strings.Contains(strings.Join(rows[0], ","), "(Asia/Shanghai)") {
				t.Errorf("header %v", rows[0])
			}
			var erp []string
			for _, r := range rows[1:] {
				if r[1] == "erp" {
					erp = r
				}
			}
			if (erp != nil) != c.erp {
				t.Fatalf("erp row %v, want one: %v", erp, c.erp)
			}
			// Other tests of the package send to erp too, some badly signed.
			if erp != nil && (erp[2] != "standard" || erp[6] == "0" || erp[8] == "" || len(erp) != len(rows[0])) {
				t.Errorf("erp row %v", erp)
			}
		})
	}
	var n int
	if err := s.App.DB.NewRaw(`SELECT count(*) FROM audit_log WHERE action = 'system.exported' AND subject LIKE ?`, "%"+ch+"%").Scan(context.Background(), &n); err != nil || n != 3 {
		t.Errorf("%d exports audited (%v), want 3", n, err)
	}
}

// TestTimeZone: a person's zone is the business zone until they set their
// own; an admin sets anyone's; a token has none of its own.
func TestTimeZone(t *testing.T) {
	s := startServer(t)
	name, pw := uniq("tz-"), "tz password "+uniq("")
	if _, err := s.App.Auth.CreateUser(context.Background(), auth.NewUser{Name: name, Role: access.Ops, Password: pw}, "test"); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, s.URL)
	if r := b.login(name, pw); r.StatusCode != 200 {
		t.Fatalf("login %d", r.StatusCode)
	}
	me := func() string {
		_, raw := b.gql(`{me{timeZone}}`, true)
		var out struct {
			Data struct{ Me struct{ TimeZone string } }
		}
		_ = json.Unmarshal([]byte(raw), &out)
		return out.Data.Me.TimeZone
	}
	set := func(tz string) string {
		_, raw := b.gql(`mutation{setMyTimeZone(timeZone:"`+tz+`"){timeZone}}`, true)
		return raw
	}
	if got := me(); got != "Asia/Shanghai" {
		t.Errorf("default zone %q", got)
	}
	if raw := set("Europe/Berlin"); !strings.Contains(raw, `"timeZone":"Europe/Berlin"`) {
		t.Errorf("setMyTimeZone: %s", raw)
	}
	if got := me(); got != "Europe/Berlin" {
		t.Errorf("zone after setting %q", got)
	}
	if raw := set("Mars/Olympus"); !strings.Contains(raw, "BAD_USER_INPUT") {
		t.Errorf("a zone that is none: %s", raw)
	}
	data, errs := s.gql(t, `mutation($n:String!){setUserTimeZone(name:$n,timeZone:"America/New_York"){timeZone}}`, map[string]any{"n": name})
	if len(errs) > 0 || data["setUserTimeZone"].(map[string]any)["timeZone"] != "America/New_York" {
		t.Errorf("setUserTimeZone: %v %v", data, errs)
	}
	if got := me(); got != "America/New_York" {
		t.Errorf("zone set by an admin %q", got)
	}
	if raw := set(""); !strings.Contains(raw, `"timeZone":"Asia/Shanghai"`) {
		t.Errorf("back to the business zone: %s", raw)
	}
	if _, errs := s.gql(t, `mutation{setMyTimeZone(timeZone:"UTC"){timeZone}}`, nil); len(errs) == 0 {
		t.Errorf("a token set a zone of its own")
	}
}

// TestExceptionCauses: the top causes of the window's alerts, with counts
// and shares, within the filters.
func TestExceptionCauses(t *testing.T) {
	s := startServer(t)
	o := sendViewkitOrders(t, s)
	waitDrill(t, s, map[string]any{"set": "ABNORMAL", "channel": o.chA, "from": o.from.Format(time.RFC3339), "to": o.to.Format(time.RFC3339)}, sorted(o.s1, o.s2))
	q := `query($f:Time!,$t:Time!,$c:String,$w:String){exceptionCauses(from:$f,to:$t,channel:$c,warehouse:$w){total causes{rule kind count share orders}}}`
	causes := func(channel, warehouse string) (int, map[string]map[string]any) {
		vars := map[string]any{"f": o.from.Format(time.RFC3339), "t": o.to.Format(time.RFC3339), "c": channel}
		if warehouse != "" {
			vars["w"] = warehouse
		}
		data, errs := s.gql(t, q, vars)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		ec := data["exceptionCauses"].(map[string]any)
		out := map[string]map[string]any{}
		for _, c := range ec["causes"].([]any) {
			out[c.(map[string]any)["rule"].(string)] = c.(map[string]any)
		}
		return int(ec["total"].(float64)), out
	}
	total, cs := causes(o.chA, "")
	va := cs["vague_address"]
	if va == nil || va["count"].(float64) != 2 || va["orders"].(float64) != 2 {
		t.Fatalf("vague_address in %s: %v (all: %v)", o.chA, va, cs)
	}
	if share := va["share"].(float64); share != 2/float64(total) {
		t.Errorf("share %v of total %d", share, total)
	}
	if _, cs := causes(o.chA, o.whB); cs["vague_address"]["count"].(float64) != 1 {
		t.Errorf("in %s: %v", o.whB, cs["vague_address"])
	}
}
