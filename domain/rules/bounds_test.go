package rules

import (
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/towerhq/tower/domain/order"
)

// hostileEnv is an order whose buyer message is as long as a webhook body
// allows (about 900 KB): expressions that go through it in a loop are the
// ones that would burn CPU.
func hostileEnv() Env {
	e := created(data(func(d *order.Data) { d.BuyerMessage = strings.Repeat("买", 300_000) }))
	return NewEnv(&e, twinOf(e), Features{}, t0)
}

// maxHostileAlloc is what one hostile evaluation may allocate in all
// (runtime.MemStats.TotalAlloc, garbage included), and maxHostileTime how
// long it may take: generous, but far from what the same expressions cost
// unbounded (gigabytes, hours).
const (
	maxHostileAlloc = 64 << 20
	maxHostileTime  = 5 * time.Second
)

// TestHostileExpressions: expressions a few dozen characters long that,
// unbounded, allocate gigabytes or loop for hours. Each compiles (they are
// valid expressions) and fails cleanly at evaluation with an error matching
// ErrOverBounds, allocating and taking little.
func TestHostileExpressions(t *testing.T) {
	tests := []struct {
		name string
		x    string
		due  bool // as a dueExpr
	}{
		{"repeat then replace", `len(replace(repeat("x", 500000), "x", repeat("y", 2000))) > 0`, false},
		{"repeat then replace, short", `replace(repeat("a", 900000), "a", "aaaa") != ""`, false},
		{"a huge range", `len(1..1000000000) > 0`, false},
		{"a range just under expr's budget, mapped", `len(map(1..999999, {# + 1})) > 0`, false},
		{"nested map over ranges", `len(map(1..1000, {map(1..1000, {# * 2})})) > 0`, false},
		{"nested loops over one range", `let r = 1..50000; any(r, {any(r, {# < 0})})`, false},
		{"three nested loops", `let r = 1..1000; all(r, {all(r, {all(r, {# > 0})})})`, false},
		{"string doubling with let", `let a = "0123456789abcdef"; let b = a+a+a+a+a+a+a+a+a+a+a+a+a+a+a+a; let c = b+b+b+b+b+b+b+b+b+b+b+b+b+b+b+b; let d = c+c+c+c+c+c+c+c+c+c+c+c+c+c+c+c; let e = d+d+d+d+d+d+d+d+d+d+d+d+d+d+d+d; let f = e+e+e+e+e+e+e+e+e+e+e+e+e+e+e+e; len(f+f+f+f+f+f+f+f) > 0`, false},
		{"string doubling in reduce", `len(reduce(1..64, {#acc + #acc}, "x")) > 0`, false},
		{"concatenation in a loop", `len(reduce(1..99999, {#acc + order.buyerMessage}, "")) > 0`, false},
		{"join of many copies", `len(join(map(1..50000, {order.buyerMessage}), ",")) > 0`, false},
		{"split into runes", `len(split(order.buyerMessage + order.buyerMessage + order.buyerMessage, "")) > 0`, false},
		{"uniq is quadratic", `len(uniq(1..900000)) > 0`, false},
		{"string of a big list", `len(string(1..999999)) > 0`, false},
		{"toJSON of a big list", `len(toJSON(1..999999)) > 0`, false},
		{"upper in a loop", `len(map(1..100000, {upper(order.buyerMessage)})) > 0`, false},
		{"in over a list in a loop", `let r = 1..90000; all(r, {# in r})`, false},
		{"contains in a loop", `all(1..100000, {!(order.buyerMessage contains "zz")})`, false},
		{"string equality over a long text in a loop", `let m = order.buyerMessage; all(1..100000, {m == order.buyerMessage})`, false},
		{"matches over a long text in a loop", `all(1..100000, {!(order.buyerMessage matches "z$")})`, false},
		{"helper over a long text in a loop", `all(1..100000, {!containsAny(order.buyerMessage, ["zz"])})`, false},
		{"sum of a big list in a loop", `let r = 1..100000; all(1..100000, {sum(r) > 0})`, false},
		{"max of a big list in a loop", `let r = 1..100000; all(1..100000, {max(r) > 0})`, false},
		{"sort in a loop", `let r = 1..100000; all(1..1000, {len(sort(r)) > 0})`, false},
		{"fromJSON of a long text", `fromJSON(repeat("[", 900000)) != nil`, false},
		{"a dueExpr", `len(replace(repeat("x", 999999), "x", repeat("y", 1000))) > 0 ? order.shipBy : nil`, true},
	}
	env := hostileEnv()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := rule(tc.x)
			if tc.due {
				r = rule("true")
				r.On, r.DueExpr = []order.Kind{order.KindCreated}, tc.x
			}
			p, err := Compile(r)
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			alloc, took, err := measure(func() error {
				if tc.due {
					_, _, err := p.Due(env)
					return err
				}
				_, err := p.Eval(env)
				return err
			})
			var re *RuntimeError
			if !errors.As(err, &re) || !errors.Is(err, ErrOverBounds) {
				t.Fatalf("got %v; want a *RuntimeError matching ErrOverBounds", err)
			}
			t.Logf("%s after %v, %.1f MiB allocated", re.Message, took.Round(time.Millisecond), float64(alloc)/(1<<20))
			if alloc > maxHostileAlloc {
				t.Errorf("allocated %.0f MiB, want under %d MiB", float64(alloc)/(1<<20), maxHostileAlloc>>20)
			}
			if took > maxHostileTime {
				t.Errorf("took %v, want under %v", took, maxHostileTime)
			}
		})
	}
}

// measure runs f and reports what it allocated in all and how long it took.
func measure(f func() error) (alloc uint64, took time.Duration, err error) {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	err = f()
	took = time.Since(start)
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc, took, err
}

// TestBoundedExpressionsKeepTheirMeaning evaluates each expression both as
// written (expr's own builtins and operators) and as compiled for running
// (rewritten to be metered) and wants the same value.
func TestBoundedExpressionsKeepTheirMeaning(t *testing.T) {
	e := created(data(func(d *order.Data) {
		d.BuyerMessage = "请尽快发货"
		d.Items = append(d.Items, order.Item{SKU: "SKU-2", Qty: 3, Price: 500})
	}))
	env := NewEnv(&e, twinOf(e), Features{BuyerOrderCount: 2}, t0)
	for _, x := range []string{
		`repeat("ab", 3)`, `repeat("", 5)`, `replace("a-b-c", "-", "+")`, `replace("a-b-c", "-", "", 1)`, `replace("ab", "", "-")`,
		`join(["a", "b"], ",")`, `join(["a", "b"])`, `join(split("a,b,c", ","), "+")`, `split("a,b,c", ",", 2)`, `split("张三", "")`,
		`splitAfter("a,b", ",")`, `upper(order.buyerMessage + "x")`, `lower("AB")`, `string(order.itemCount)`, `string([1, "a"])`,
		`trim("  a ")`, `trim("xax", "x")`, `trimPrefix("ab", "a")`, `trimSuffix("ab", "b")`, `indexOf("abc", "c")`, `lastIndexOf("abca", "a")`,
		`toJSON({"a": [1, 2]})`, `fromJSON("[1, {\"b\": 2}]")`, `toBase64("张三")`, `fromBase64(toBase64("x"))`,
		`uniq([1, 1, 2, "a", "a"])`, `sort([3, 1, 2])`, `sort(["b", "a"], "desc")`, `keys({"a": 1})`, `values({"a": 1})`,
		`toPairs({"a": 1})`, `fromPairs([["a", 1]])`, `max(1, 3, 2)`, `max([1.5, 2])`, `min(order.amount, 10)`, `mean([1, 2, 3])`, `median([3, 1, 2])`,
		`"a" + "b" + order.orderNo`, `order.items[0].sku + "-" + string(order.items[0].qty)`, `reduce(1..3, {#acc + string(#)}, "")`,
		`1 + 2`, `order.amount + 1`, `now + duration("1h")`, `fromJSON("1") + fromJSON("2")`, `fromJSON("\"a\"") + "b"`,
		`2 in [1, 2]`, `let xs = [1, 2]; 2 in xs`, `"SKU-2" in map(order.items, {#.sku})`, `"a" in {"a": 1}`, `3 in 1..5`,
		`order.stage not in ["CANCELLED", "REFUNDED"]`, `order.buyerMessage contains "尽快"`, `order.buyerMessage contains ""`,
		`sum(1..100)`, `sum(order.items, {#.qty})`, `count([true, false, true])`, `count(order.items, {#.qty > 1})`,
		`map(order.items, {#.sku})`, `filter(1..10, {# % 2 == 0})`, `all(order.items, {#.qty > 0})`, `any(order.items, {#.sku == "x"})`,
		`find(order.items, {#.qty == 3}).sku`, `findIndex(1..5, {# == 3})`, `groupBy(order.items, {#.qty > 1})[true][0].sku`,
		`sortBy(order.items, {#.qty}, "desc")[0].sku`, `one(order.items, {#.qty == 3})`, `none(order.items, {#.qty > 9})`,
		`containsAny(order.buyerMessage, ["加急", "尽快"])`, `isRemote(order.receiver.province)`, `validPhone(order.receiver.phone)`,
		`hasHouseNumber(order.receiver.address)`, `minutes(now - event.at)`, `twin.has("order.created")`,
		`map(1..3, {map(1..2, {# * 10})})`, `len(order.buyerMessage)`, `features.buyerOrderCount + 1`,
		`filter(order.items, {#.sku == "SKU-2" || #.sku matches "^S" && #.sku startsWith "SKU" && #.sku >= "A"})`,
		`any(1..2, {any(order.items, {#.sku != order.orderNo})})`, `map(fromJSON("[\"a\", 1]"), {# == "a"})`,
	} {
		t.Run(x, func(t *testing.T) {
			plain, err := expr.Compile(x, append(options(), expr.AsAny())...)
			if err != nil {
				t.Fatalf("as written: %v", err)
			}
			want, err := vm.Run(plain, &env)
			if err != nil {
				t.Fatalf("as written: %v", err)
			}
			bounded, err := compile(x, "t", "expression", expr.AsAny())
			if err != nil {
				t.Fatalf("bounded: %v", err)
			}
			p := &Program{rule: rule("true")}
			got, err := p.run(bounded, "expression", &env)
			if err != nil {
				t.Fatalf("bounded: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("bounded gives %#v, as written %#v", got, want)
			}
		})
	}
}

// TestBoundsAllowOrdinaryWork: work well inside the bounds is not refused,
// and the meter starts afresh for each evaluation.
func TestBoundsAllowOrdinaryWork(t *testing.T) {
	env := hostileEnv()
	for _, x := range []string{
		`len(repeat("x", 1000000)) == 1000000`,
		`len(map(1..50000, {# * 2})) == 50000`,
		`count(1..90000, {# % 3 == 0}) == 30000`,
		`order.buyerMessage contains "买买"`,
		`containsAny(order.buyerMessage, ["卖"]) == false`,
	} {
		p, err := Compile(rule(x))
		if err != nil {
			t.Fatalf("%s: %v", x, err)
		}
		for range 3 {
			if ok, err := p.Eval(env); !ok || err != nil {
				t.Fatalf("%s: %v, %v", x, ok, err)
			}
		}
	}
}

// TestDefaultsWithinBounds: every default rule compiles to a bounded
// program and evaluates on a large order without touching the bounds.
func TestDefaultsWithinBounds(t *testing.T) {
	ps, err := CompileAll(Defaults())
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 21 {
		t.Errorf("%d default rules, want 21", len(ps))
	}
	env := hostileEnv()
	for _, p := range ps {
		if p.Deadline() {
			if _, _, err := p.Due(env); err != nil {
				t.Errorf("%s: Due: %v", p.Name(), err)
			}
		}
		if _, err := p.EvalRef(&env); errors.Is(err, ErrOverBounds) {
			t.Errorf("%s: %v", p.Name(), err)
		}
	}
}

// FuzzBoundedEval: whatever the expression, Compile and Eval do not panic,
// an evaluation error is a *RuntimeError, and an evaluation that stays
// within its bounds gives what the expression as written gives (running it
// as written is then safe: it does the same work).
func FuzzBoundedEval(f *testing.F) {
	for _, r := range Defaults() {
		f.Add(r.Expression)
	}
	for _, x := range []string{
		`len(replace(repeat("x", 5), "x", repeat("y", 2))) > 0`, `let a = "ab"; len(a + a + a) == 6`,
		`sum(1..10) > 0`, `count(order.items, {#.qty > 1}) > 0`, `"SKU-1" in map(order.items, {#.sku})`,
		`join(split("a,b", ","), "-") == "a-b"`, `any(1..3, {all(1..2, {# > 0})})`, `reduce(1..4, {#acc + #}, 0) == 10`,
		`uniq([1, 1])[0] == 1`, `max(1, 2) == 2`, `string(order.itemCount) + "x" != ""`, `order.buyerMessage contains "a"`,
	} {
		f.Add(x)
	}
	e := created()
	env := NewEnv(&e, twinOf(e), Features{}, t0)
	f.Fuzz(func(t *testing.T, x string) {
		if len(x) > MaxExpressionLen {
			return
		}
		bounded, err := compile(x, "t", "expression", expr.AsAny())
		if err != nil {
			return
		}
		p := &Program{rule: rule("true")}
		got, err := p.run(bounded, "expression", &env)
		if err != nil {
			var re *RuntimeError
			if !errors.As(err, &re) {
				t.Fatalf("%s: error %T, want a *RuntimeError", x, err)
			}
			return
		}
		plain, err := expr.Compile(x, append(options(), expr.AsAny())...)
		if err != nil {
			t.Fatalf("%s: compiles bounded but not as written: %v", x, err)
		}
		want, err := vm.Run(plain, &env)
		if err != nil {
			t.Fatalf("%s: bounded gives %#v, as written fails: %v", x, got, err)
		}
		if !sameValue(got, want) {
			t.Fatalf("%s: bounded gives %#v, as written %#v", x, got, want)
		}
	})
}

// sameValue is reflect.DeepEqual, except that NaN equals NaN and funcs
// (twin.has) equal themselves.
func sameValue(a, b any) bool {
	if reflect.DeepEqual(a, b) {
		return true
	}
	if fa, ok := a.(float64); ok {
		fb, ok := b.(float64)
		return ok && fa != fa && fb != fb
	}
	return fmt.Sprintf("%#v", a) == fmt.Sprintf("%#v", b)
}
