package rules

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/towerhq/tower/domain/order"
)

// rule is a minimal valid immediate rule with expression x.
func rule(x string) Rule {
	return Rule{
		Name: "test_rule", Description: "测试", Expression: x,
		Actions: Actions{Tags: []string{"t"}, Severity: SeverityInfo},
		Enabled: true, Version: 1,
	}
}

func TestCompileError(t *testing.T) {
	tests := []struct {
		name      string
		r         Rule
		field     string
		line, col int
		msg       string
	}{
		{
			name: "unknown field on line 3",
			r: rule("order.amount > 100 &&\n" +
				"  order.stage == \"PAID\" &&\n" +
				"  order.recevier.phone == \"\""),
			field: "expression", line: 3, col: 9, msg: "recevier",
		},
		{
			name:  "syntax error on line 2",
			r:     rule("twin.has(\"wms.outbound\") &&\n  (order.amount > )"),
			field: "expression", line: 2, col: 19, msg: "unexpected token",
		},
		{
			name:  "chinese characters count as one column",
			r:     rule(`containsAny(order.buyerMessage, ["加急"]) && 未知`),
			field: "expression", line: 1, col: 44, msg: "unknown name 未知",
		},
		{
			name:  "not a bool",
			r:     rule("order.amount * 2"),
			field: "expression", line: 1, col: 1, msg: "expected bool",
		},
		{
			name:  "wrong argument type",
			r:     rule("hasHouseNumber(order.amount)"),
			field: "expression", line: 1, col: 22, msg: "cannot use float64",
		},
		{
			name:  "now() is disabled: time is an input",
			r:     rule("now() > order.shipBy"),
			field: "expression", line: 1, col: 1, msg: "not callable",
		},
		{
			name: "dueExpr not a time",
			r: func() Rule {
				r := rule("true")
				r.On, r.DueExpr = []order.Kind{order.KindPaid}, "order.amount"
				return r
			}(),
			field: "dueExpr", line: 1, col: 1, msg: "must give a time",
		},
		{
			name: "dueExpr syntax",
			r: func() Rule {
				r := rule("true")
				r.On, r.DueExpr = []order.Kind{order.KindPaid}, "order.shipBy +\n +"
				return r
			}(),
			field: "dueExpr", line: 2, col: 2, msg: "unexpected token",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(tc.r)
			var ce *CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("got %v (%T), want a *CompileError", err, err)
			}
			if ce.Rule != tc.r.Name || ce.Field != tc.field || ce.Line != tc.line || ce.Column != tc.col || !strings.Contains(ce.Message, tc.msg) {
				t.Errorf("got %+v, want %s:%d:%d containing %q", *ce, tc.field, tc.line, tc.col, tc.msg)
			}
			if strings.Contains(ce.Message, "\n") {
				t.Errorf("message %q holds the snippet", ce.Message)
			}
		})
	}
}

func TestEvalRuntimeError(t *testing.T) {
	full := NewEnv(&[]order.Event{created()}[0], twinOf(created()), Features{}, t0)
	deadline := NewEnv(nil, twinOf(created()), Features{}, t0)
	tests := []struct {
		name string
		x    string
		env  Env
		msg  string
	}{
		{"nil event in a deadline", "event.data.amount > 100", deadline, "event"},
		{"nil time", `order.shipBy < now`, NewEnv(nil, twinOf(ev(order.KindCreated, 0)), Features{}, t0), "invalid operation"},
		{"zero Env: nil twin.has", `twin.has("wms.outbound")`, Env{}, ""},
		{"index out of range", `order.items[5].sku == "x"`, full, "out of range"},
		{"helper given a non-string word", `containsAny(order.buyerMessage, ["a", 1])`, full, "strings"},
		{"integer division by zero", `1 % features.buyerOrderCount == 0`, full, "divide"},
		{"result not a bool", `order.amount > 0 ? 1 : false`, deadline, "bool(int)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := rule(tc.x)
			p, err := Compile(r)
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			var got bool
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("Eval panicked: %v", r)
					}
				}()
				got, err = p.Eval(tc.env)
			}()
			var re *RuntimeError
			if !errors.As(err, &re) {
				t.Fatalf("got %v, %v; want a *RuntimeError", got, err)
			}
			if got || re.Rule != r.Name || re.Field != "expression" || !strings.Contains(re.Message, tc.msg) {
				t.Errorf("got %v, %+v; want false and a message containing %q", got, *re, tc.msg)
			}
		})
	}

	// The program stays usable after an error.
	p, err := Compile(rule(`event.type == "order.created"`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Eval(deadline); err == nil {
		t.Error("want an error for a nil event")
	}
	if ok, err := p.Eval(full); !ok || err != nil {
		t.Errorf("after an error: %v, %v", ok, err)
	}
	var re *RuntimeError
	if _, err := p.Eval(deadline); !errors.As(err, &re) || re.Line != 1 || re.Column != 1 {
		t.Errorf("runtime error position: %v", err)
	}
}

func TestValidate(t *testing.T) {
	ok := rule("true")
	deadline := func(f func(*Rule)) Rule {
		r := rule("true")
		r.On, r.After, r.Until = []order.Kind{order.KindPaid}, 10*time.Minute, []order.Kind{order.KindWMSReceived}
		f(&r)
		return r
	}
	edit := func(f func(*Rule)) Rule {
		r := rule("true")
		f(&r)
		return r
	}
	tests := []struct {
		name   string
		r      Rule
		fields []string // the fields in error, in order; nil = valid
	}{
		{"valid", ok, nil},
		{"valid deadline", deadline(func(*Rule) {}), nil},
		{"valid dueExpr", deadline(func(r *Rule) { r.After, r.DueExpr = 0, "order.shipBy" }), nil},
		{"valid alert only", edit(func(r *Rule) { r.Actions = Actions{Severity: SeverityCritical, Alert: true, Kind: "custom_kind"} }), nil},
		{"zero rule", Rule{}, []string{"name", "description", "expression", "actions.severity", "actions"}},
		{"name not snake case", edit(func(r *Rule) { r.Name = "Outbound-Not-Collected" }), []string{"name"}},
		{"name double underscore", edit(func(r *Rule) { r.Name = "a__b" }), []string{"name"}},
		{"name trailing underscore", edit(func(r *Rule) { r.Name = "a_" }), []string{"name"}},
		{"name starts with a digit", edit(func(r *Rule) { r.Name = "1a" }), []string{"name"}},
		{"name too long", edit(func(r *Rule) { r.Name = strings.Repeat("a", 65) }), []string{"name"}},
		{"blank description", edit(func(r *Rule) { r.Description = "  " }), []string{"description"}},
		{"blank expression", edit(func(r *Rule) { r.Expression = "\n" }), []string{"expression"}},
		{"unknown and duplicate on", edit(func(r *Rule) {
			r.On = []order.Kind{order.KindPaid, "order.shipped", order.KindPaid}
		}), []string{"on[1]", "on[2]"}},
		{"negative after", deadline(func(r *Rule) { r.After = -time.Minute }), []string{"after", "until"}},
		{"after too long", deadline(func(r *Rule) { r.After = 31 * 24 * time.Hour }), []string{"after"}},
		{"after and dueExpr", deadline(func(r *Rule) { r.DueExpr = "order.shipBy" }), []string{"dueExpr"}},
		{"deadline without on", deadline(func(r *Rule) { r.On = nil }), []string{"on"}},
		{"until without deadline", edit(func(r *Rule) { r.Until = []order.Kind{order.KindDelivered} }), []string{"until"}},
		{"until also in on", deadline(func(r *Rule) { r.Until = []order.Kind{order.KindPaid} }), []string{"until[0]"}},
		{"unknown until", deadline(func(r *Rule) { r.Until = []order.Kind{"wms.lost"} }), []string{"until[0]"}},
		{"bad tags", edit(func(r *Rule) { r.Actions.Tags = []string{"", " x", "长" + strings.Repeat("标", 32), "a", "a"} }),
			[]string{"actions.tags[0]", "actions.tags[1]", "actions.tags[2]", "actions.tags[4]"}},
		{"too many tags", edit(func(r *Rule) {
			r.Actions.Tags = strings.Split("a b c d e f g h i j k", " ")
		}), []string{"actions.tags"}},
		{"unknown severity", edit(func(r *Rule) { r.Actions.Severity = "high" }), []string{"actions.severity"}},
		{"unknown queue", edit(func(r *Rule) { r.Actions.Queue = "ops" }), []string{"actions.queue"}},
		{"alert without kind", edit(func(r *Rule) { r.Actions.Alert = true }), []string{"actions.kind"}},
		{"bad kind", edit(func(r *Rule) { r.Actions.Alert, r.Actions.Kind = true, "Late Ship" }), []string{"actions.kind"}},
		{"does nothing", edit(func(r *Rule) { r.Actions.Tags = nil }), []string{"actions"}},
		{"negative version", edit(func(r *Rule) { r.Version = -1 }), []string{"version"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.r)
			if tc.fields == nil {
				if err != nil {
					t.Fatalf("got %v, want valid", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("got %v (%T), want a *ValidationError", err, err)
			}
			var got []string
			for _, f := range ve.Fields {
				got = append(got, f.Field)
				if f.Message == "" {
					t.Errorf("%s: empty message", f.Field)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.fields, ",") {
				t.Errorf("fields %v, want %v\n%v", got, tc.fields, err)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.fields[0] {
				t.Errorf("errors.As(*FieldError) = %v", fe)
			}
			// Compile validates too.
			if _, err := Compile(tc.r); !errors.As(err, &ve) {
				t.Errorf("Compile: %v, want the validation error", err)
			}
		})
	}
	if err := Validate(edit(func(r *Rule) { r.Name = "Bad" })); !strings.Contains(err.Error(), `rule "Bad" is invalid: name: "Bad" is not lower snake case`) {
		t.Errorf("message: %v", err)
	}
}

func TestDue(t *testing.T) {
	mk := func(after time.Duration, due string) *Program {
		r := rule("true")
		r.On, r.After, r.DueExpr = []order.Kind{order.KindPaid}, after, due
		p, err := Compile(r)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	noShipBy := created(data(func(d *order.Data) { d.ShipBy = nil }))
	envFor := func(es ...order.Event) Env {
		last := es[len(es)-1]
		return NewEnv(&last, twinOf(es...), Features{}, last.OccurredAt)
	}
	tests := []struct {
		name   string
		p      *Program
		env    Env
		want   time.Time
		wantOK bool
		err    bool
	}{
		{"after", mk(10*time.Minute, ""), envFor(created(), paid()), t0.Add(11 * time.Minute), true, false},
		{"after without an event", mk(10*time.Minute, ""), NewEnv(nil, twinOf(created()), Features{}, t0), time.Time{}, false, true},
		{"dueExpr shipBy", mk(0, "order.shipBy"), envFor(created(), paid()), t0.Add(48 * time.Hour), true, false},
		{"dueExpr with grace", mk(0, `order.shipBy + duration("30m")`), envFor(created(), paid()), t0.Add(48*time.Hour + 30*time.Minute), true, false},
		{"dueExpr nil shipBy", mk(0, "order.shipBy"), envFor(noShipBy, paid()), time.Time{}, false, false},
		{"dueExpr nil-safe fallback", mk(0, `order.shipBy ?? (event.at + duration("24h"))`), envFor(noShipBy, paid()), t0.Add(24*time.Hour + time.Minute), true, false},
		{"dueExpr time from twin", mk(0, `twin.firstAt("order.paid") + duration("2h")`), envFor(created(), paid()), t0.Add(2*time.Hour + time.Minute), true, false},
		{"dueExpr zero time", mk(0, `twin.firstAt("wms.outbound")`), envFor(created(), paid()), time.Time{}, false, false},
		{"dueExpr date literal is Beijing time", mk(0, `date("2025-11-12")`), envFor(created(), paid()), time.Date(2025, 11, 11, 16, 0, 0, 0, time.UTC), true, false},
		{"dueExpr arithmetic on nil", mk(0, `order.shipBy + duration("1h")`), envFor(noShipBy, paid()), time.Time{}, false, true},
		{"dueExpr any not a time", mk(0, `order.amount > 0 ? "soon" : order.shipBy`), envFor(created(), paid()), time.Time{}, false, true},
		{"not a deadline", func() *Program {
			p, err := Compile(rule("true"))
			if err != nil {
				t.Fatal(err)
			}
			return p
		}(), envFor(created()), time.Time{}, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := tc.p.Due(tc.env)
			if (err != nil) != tc.err {
				t.Fatalf("error %v, want error %v", err, tc.err)
			}
			if !got.Equal(tc.want) || ok != tc.wantOK {
				t.Errorf("got %v, %v; want %v, %v", got, ok, tc.want, tc.wantOK)
			}
			if ok && got.Location() != time.UTC {
				t.Errorf("due in %v, want UTC", got.Location())
			}
		})
	}

	// The defaults: late_ship follows shipBy and skips orders without one.
	ps, err := CompileAll(Defaults())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		switch p.Name() {
		case "late_ship":
			if due, ok, err := p.Due(envFor(created(), paid())); !ok || err != nil || !due.Equal(t0.Add(48*time.Hour)) {
				t.Errorf("late_ship due %v %v %v", due, ok, err)
			}
			if _, ok, err := p.Due(envFor(noShipBy, paid())); ok || err != nil {
				t.Errorf("late_ship without shipBy: ok %v err %v", ok, err)
			}
		case "outbound_not_collected":
			out := ev(order.KindWMSOutbound, 3*time.Hour)
			if due, ok, err := p.Due(envFor(created(), paid(), out)); !ok || err != nil || !due.Equal(t0.Add(3*time.Hour+10*time.Minute)) {
				t.Errorf("outbound_not_collected due %v %v %v", due, ok, err)
			}
		}
	}
}

func TestListensCancels(t *testing.T) {
	ps, err := CompileAll(Defaults())
	if err != nil {
		t.Fatal(err)
	}
	get := func(name string) *Program {
		for _, p := range ps {
			if p.Name() == name {
				return p
			}
		}
		t.Fatalf("no rule %s", name)
		return nil
	}
	tests := []struct {
		rule            string
		kind            order.Kind
		listens, cancel bool
	}{
		{"vague_address", order.KindCreated, true, false},
		{"vague_address", order.KindAddressChanged, true, false},
		{"vague_address", order.KindWMSOutbound, false, false},
		{"recovered_event", order.KindWMSPicked, true, false}, // empty On: every kind
		{"recovered_event", order.KindRefundCompleted, true, false},
		{"paid_not_in_wms", order.KindPaid, true, false},
		{"paid_not_in_wms", order.KindWMSReceived, false, true},
		{"paid_not_in_wms", order.KindCancelled, false, true},
		{"outbound_not_collected", order.KindWMSOutbound, true, false},
		{"outbound_not_collected", order.KindCollected, false, true},
		{"outbound_not_collected", order.KindInTransit, false, true},
		{"no_courier_update_24h", order.KindInTransit, true, false},
		{"no_courier_update_24h", order.KindDelivered, false, true},
		{"late_ship", order.KindWMSOutbound, false, true},
		{"late_delivery", order.KindCollected, true, false},
		{"late_delivery", order.KindDelivered, false, true},
		{"refund_after_outbound", order.KindRefundRequested, true, false},
		{"refund_after_outbound", order.KindPaid, false, false},
	}
	for _, tc := range tests {
		p := get(tc.rule)
		if got := p.Listens(tc.kind); got != tc.listens {
			t.Errorf("%s.Listens(%s) = %v", tc.rule, tc.kind, got)
		}
		if got := p.Cancels(tc.kind); got != tc.cancel {
			t.Errorf("%s.Cancels(%s) = %v", tc.rule, tc.kind, got)
		}
	}
}

func TestProgramRuleIsACopy(t *testing.T) {
	r := Defaults()[0]
	p, err := Compile(r)
	if err != nil {
		t.Fatal(err)
	}
	r.On[0] = order.KindReturned
	got := p.Rule()
	if got.On[0] == order.KindReturned {
		t.Error("Compile kept the caller's slice")
	}
	got.On[0] = order.KindReturned
	if p.Rule().On[0] == order.KindReturned || !p.Listens(order.KindCreated) {
		t.Error("Rule() shares the program's slice")
	}
}

func TestCompileAll(t *testing.T) {
	good := rule("true")
	bad := rule("order.nope")
	bad.Name = "bad_rule"
	if _, err := CompileAll([]Rule{good, good}); err == nil || !strings.Contains(err.Error(), "duplicate rule name") {
		t.Errorf("duplicate: %v", err)
	}
	ps, err := CompileAll([]Rule{good, bad})
	var ce *CompileError
	if ps != nil || !errors.As(err, &ce) || ce.Rule != "bad_rule" {
		t.Errorf("got %v, %v", ps, err)
	}
}

func TestEvalConcurrent(t *testing.T) {
	ps, err := CompileAll(Defaults())
	if err != nil {
		t.Fatal(err)
	}
	es := happy(order.KindWMSOutbound)
	env := NewEnv(&es[len(es)-1], twinOf(es...), Features{OrdersFromIP1h: 9}, t0.Add(4*time.Hour))
	want := make([]bool, len(ps))
	for i, p := range ps {
		want[i], _ = p.Eval(env)
	}
	done := make(chan struct{})
	for g := 0; g < 8; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for n := 0; n < 200; n++ {
				for i, p := range ps {
					if got, err := p.EvalRef(&env); err != nil || got != want[i] {
						t.Errorf("%s: %v %v", p.Name(), got, err)
						return
					}
				}
			}
		}()
	}
	for g := 0; g < 8; g++ {
		<-done
	}
}
