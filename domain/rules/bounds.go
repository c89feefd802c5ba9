package rules

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math/bits"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/checker/nature"
	"github.com/expr-lang/expr/vm/runtime"
)

// Bounds on one evaluation of one expression (Eval, EvalRef or Due). A
// rule is typed by business users and runs on every event and in
// backtests, so no expression may take the process down: expr's own
// memory budget counts the elements of the ranges, arrays and maps its VM
// builds, but not what most builtins allocate (replace of a large string,
// join, split, upper, string concatenation) nor the turns of its loops.
// Compile therefore rewrites every expression so that those builtins,
// the + of strings and each turn of a closure (all, map, filter, ...)
// charge a meter that the evaluation carries; going over a bound stops
// the evaluation with a *RuntimeError matching ErrOverBounds, counted like
// any other rule error.
//
// The bounds are counts, not times, so an evaluation's outcome does not
// depend on the machine's load.
const (
	// MaxSteps bounds the work of one evaluation. A step is one turn of a
	// closure, or about one element (or 64 bytes of a string) that a
	// builtin, a helper, `in` or `contains` goes through.
	MaxSteps = 100_000
	// MaxBytes bounds the strings and lists that builtins and string +
	// build in one evaluation.
	MaxBytes = 4 << 20
	// vmMemoryBudget is expr's own budget (elements of ranges, arrays and
	// maps); its default, set here so it is visibly part of the bounds.
	vmMemoryBudget = 1_000_000
)

// ErrOverBounds is matched (errors.Is) by the error of an evaluation that
// went over MaxSteps, MaxBytes or expr's memory budget.
var ErrOverBounds = errors.New("rule evaluation over its bounds")

type boundsError struct{ msg string }

func (e *boundsError) Error() string        { return e.msg }
func (e *boundsError) Is(target error) bool { return target == ErrOverBounds }

// meter counts what one evaluation has used. Bounded builtins reach it
// through $env, which is the evaluation's scope.
type meter struct {
	steps, bytes int
}

func (m *meter) step(n int) error {
	m.steps += n
	if m.steps > MaxSteps || n < 0 {
		return &boundsError{fmt.Sprintf("evaluation takes more than %d steps (turns of all/any/map/filter/..., elements scanned)", MaxSteps)}
	}
	return nil
}

// alloc charges n bytes about to be built; it is called before building
// them wherever the size can be known first.
func (m *meter) alloc(n int) error {
	m.bytes += n
	if m.bytes > MaxBytes || n < 0 {
		return &boundsError{fmt.Sprintf("evaluation builds more than %d MiB of strings and lists", MaxBytes>>20)}
	}
	return nil
}

// meterOf finds the meter in the $env argument the rewrite passes first:
// the evaluation's own copy of the Env (see Program.run).
func meterOf(env any) *meter {
	e, ok := env.(*Env)
	if !ok || e.meter == nil {
		// Only Program.run evaluates, always with a metered *Env.
		panic(fmt.Sprintf("rules: bounded function called without a meter (%T)", env))
	}
	return e.meter
}

// Internal names of the rewrite; "." keeps expressions from naming them.
const (
	fnStep     = "$bounded.step"
	fnConcat   = "$bounded.concat"
	fnAdd      = "$bounded.add"
	fnIn       = "$bounded.in"
	fnContains = "$bounded.contains"
	fnScan     = "$bounded.scan"
)

// meteredFunc is a function called with $env first: the rewrite adds
// that argument to every call of it.
type meteredFunc struct {
	name  string
	types []reflect.Type // without the leading $env
	fn    func(m *meter, args []any) (any, error)
}

var anyType = reflect.TypeOf((*any)(nil)).Elem()

// withEnv is t with a leading parameter for $env.
func withEnv(t reflect.Type) reflect.Type {
	in := []reflect.Type{anyType}
	for i := range t.NumIn() {
		in = append(in, t.In(i))
	}
	out := make([]reflect.Type, t.NumOut())
	for i := range out {
		out[i] = t.Out(i)
	}
	return reflect.FuncOf(in, out, t.IsVariadic())
}

func (f meteredFunc) option() expr.Option {
	types := make([]any, len(f.types))
	for i, t := range f.types {
		types[i] = reflect.New(withEnv(t)).Interface()
	}
	return expr.Function(f.name, func(params ...any) (any, error) {
		return f.fn(meterOf(params[0]), params[1:])
	}, types...)
}

func typesOf(fns ...any) []reflect.Type {
	out := make([]reflect.Type, len(fns))
	for i, f := range fns {
		t := reflect.TypeOf(f)
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		out[i] = t
	}
	return out
}

// callBuiltin runs expr's own implementation of the builtin name.
func callBuiltin(name string, args []any) (any, error) {
	f := builtin.Builtins[builtin.Index[name]]
	switch {
	case f.Fast != nil:
		return f.Fast(args[0]), nil
	case f.Safe != nil:
		out, _, err := f.Safe(args...)
		return out, err
	}
	return f.Func(args...)
}

// builtinTypes is the builtin's signatures, for the ones that declare them.
func builtinTypes(name string) []reflect.Type {
	return builtin.Builtins[builtin.Index[name]].Types
}

// scanCost is the steps it takes to go through v once.
func scanCost(v any) int {
	switch v := v.(type) {
	case string:
		return len(v)/64 + 1
	case nil:
		return 1
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array, reflect.Map:
		return rv.Len() + 1
	}
	return 1
}

// listBytes is about what a list of n elements occupies.
func listBytes(n int) int { return 16 * n }

// sizeOf is about how many bytes v built: strings by length, lists and
// maps by element.
func sizeOf(v any) int {
	if s, ok := v.(string); ok {
		return len(s)
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		return listBytes(rv.Len())
	case reflect.Map:
		return 3 * listBytes(rv.Len())
	}
	return 0
}

// charged is a builtin that goes through its arguments once and whose
// output is charged after it is built: one whose output is at most a
// small multiple of its input, which is itself bounded.
func charged(name string, types []reflect.Type) meteredFunc {
	return meteredFunc{name: name, types: types, fn: func(m *meter, args []any) (any, error) {
		cost := 0
		for _, a := range args {
			cost += scanCost(a)
		}
		if err := m.step(cost); err != nil {
			return nil, err
		}
		out, err := callBuiltin(name, args)
		if err != nil {
			return nil, err
		}
		return out, m.alloc(sizeOf(out))
	}}
}

// intArg is the optional count argument of replace and split.
func intArg(args []any, i int) (n int, ok bool) {
	if len(args) <= i {
		return -1, false
	}
	return runtime.ToInt(args[i]), true
}

// occurrences is how many pieces strings.Replace or strings.Split make of
// sep in s: as the standard library counts them ("" matches before each
// rune), capped at n when n >= 0.
func occurrences(s, sep string, n int, capped bool) int {
	c := strings.Count(s, sep)
	if capped && n >= 0 && c > n {
		c = n
	}
	return c
}

// boundedBuiltins replace expr's builtins that can build large values or
// take long: the same names and semantics, with their cost charged, and
// checked before building wherever the size is known first.
func boundedBuiltins() []meteredFunc {
	fs := []meteredFunc{
		{name: "repeat", types: builtinTypes("repeat"), fn: func(m *meter, args []any) (any, error) {
			s, n := args[0].(string), runtime.ToInt(args[1])
			if n > 0 && len(s) > 0 && len(s) > MaxBytes/n {
				return nil, m.alloc(MaxBytes + 1)
			}
			if n > 0 {
				if err := m.alloc(len(s) * n); err != nil {
					return nil, err
				}
				if err := m.step(len(s) * n / 64); err != nil {
					return nil, err
				}
			}
			return callBuiltin("repeat", args)
		}},
		{name: "replace", types: builtinTypes("replace"), fn: func(m *meter, args []any) (any, error) {
			s, old, repl := args[0].(string), args[1].(string), args[2].(string)
			n, capped := intArg(args, 3)
			if err := m.step(scanCost(s)); err != nil {
				return nil, err
			}
			c := occurrences(s, old, n, capped)
			if grow := len(repl) - len(old); grow > 0 && c > 0 && grow > MaxBytes/c {
				return nil, m.alloc(MaxBytes + 1)
			}
			if err := m.alloc(len(s) + c*(len(repl)-len(old))); err != nil {
				return nil, err
			}
			return callBuiltin("replace", args)
		}},
		{name: "join", types: builtinTypes("join"), fn: func(m *meter, args []any) (any, error) {
			glue := ""
			if len(args) == 2 {
				glue, _ = args[1].(string)
			}
			size, n := 0, 0
			switch list := args[0].(type) {
			case []string:
				for _, s := range list {
					size += len(s)
				}
				n = len(list)
			case []any:
				for _, s := range list {
					s, _ := s.(string)
					size += len(s)
				}
				n = len(list)
			}
			if n > 1 && len(glue) > MaxBytes/(n-1) {
				return nil, m.alloc(MaxBytes + 1)
			}
			if err := m.step(n + size/64); err != nil {
				return nil, err
			}
			if err := m.alloc(size + len(glue)*max(n-1, 0)); err != nil {
				return nil, err
			}
			return callBuiltin("join", args)
		}},
		splitter("split"),
		splitter("splitAfter"),
		{name: "toBase64", types: builtinTypes("toBase64"), fn: func(m *meter, args []any) (any, error) {
			s := args[0].(string)
			if err := m.step(scanCost(s)); err != nil {
				return nil, err
			}
			if err := m.alloc(base64.StdEncoding.EncodedLen(len(s))); err != nil {
				return nil, err
			}
			return callBuiltin("toBase64", args)
		}},
		{name: "fromJSON", types: builtinTypes("fromJSON"), fn: func(m *meter, args []any) (any, error) {
			s := args[0].(string)
			if err := m.step(scanCost(s)); err != nil {
				return nil, err
			}
			// Decoded values take many times their text (`[[[[]]]]`):
			// charged at that before decoding.
			if err := m.alloc(16 * len(s)); err != nil {
				return nil, err
			}
			return callBuiltin("fromJSON", args)
		}},
		{name: "uniq", types: typesOf(new(func(any) []any)), fn: func(m *meter, args []any) (any, error) {
			// expr's uniq compares each element with every kept one.
			n := scanCost(args[0])
			if n > 1 && n > MaxSteps/n {
				return nil, m.step(MaxSteps + 1)
			}
			if err := m.step(n * n / 2); err != nil {
				return nil, err
			}
			if err := m.alloc(listBytes(n)); err != nil {
				return nil, err
			}
			return callBuiltin("uniq", args)
		}},
		{name: "sort", types: builtinTypes("sort"), fn: func(m *meter, args []any) (any, error) {
			n := scanCost(args[0])
			if err := m.step(n * bits.Len(uint(n))); err != nil {
				return nil, err
			}
			if err := m.alloc(listBytes(n)); err != nil {
				return nil, err
			}
			return callBuiltin("sort", args)
		}},
	}
	for _, name := range []string{"upper", "lower", "string", "toJSON", "fromBase64", "indexOf", "lastIndexOf", "trim", "trimPrefix", "trimSuffix"} {
		fs = append(fs, charged(name, builtinTypes(name)))
	}
	for _, name := range []string{"keys", "values", "toPairs"} {
		fs = append(fs, charged(name, typesOf(new(func(any) []any))))
	}
	fs = append(fs, charged("fromPairs", typesOf(new(func(any) map[string]any))))
	for _, name := range []string{"max", "min"} {
		fs = append(fs, charged(name, typesOf(new(func(...any) any))))
	}
	for _, name := range []string{"mean", "median"} {
		fs = append(fs, charged(name, typesOf(new(func(...any) float64))))
	}
	return fs
}

func splitter(name string) meteredFunc {
	return meteredFunc{name: name, types: builtinTypes(name), fn: func(m *meter, args []any) (any, error) {
		s, sep := args[0].(string), args[1].(string)
		n, capped := intArg(args, 2)
		if err := m.step(scanCost(s)); err != nil {
			return nil, err
		}
		pieces := occurrences(s, sep, n, capped) + 1
		if sep == "" {
			pieces = utf8.RuneCountInString(s)
		}
		if err := m.alloc(listBytes(pieces)); err != nil {
			return nil, err
		}
		return callBuiltin(name, args)
	}}
}

// operatorFuncs back the operators the rewrite replaces.
var operatorFuncs = []meteredFunc{
	{name: fnStep, types: typesOf(new(func() any)), fn: func(m *meter, _ []any) (any, error) {
		return nil, m.step(1)
	}},
	{name: fnConcat, types: typesOf(new(func(string, string) string)), fn: func(m *meter, args []any) (any, error) {
		a, b := args[0].(string), args[1].(string)
		if err := m.alloc(len(a) + len(b)); err != nil {
			return nil, err
		}
		return a + b, nil
	}},
	{name: fnAdd, types: typesOf(new(func(any, any) any)), fn: func(m *meter, args []any) (any, error) {
		a, aok := args[0].(string)
		b, bok := args[1].(string)
		if aok && bok {
			if err := m.alloc(len(a) + len(b)); err != nil {
				return nil, err
			}
			return a + b, nil
		}
		return runtime.Add(args[0], args[1]), nil
	}},
	{name: fnIn, types: typesOf(new(func(any, any) bool)), fn: func(m *meter, args []any) (any, error) {
		if err := m.step(scanCost(args[1])); err != nil {
			return nil, err
		}
		return runtime.In(args[0], args[1]), nil
	}},
	{name: fnScan, types: typesOf(new(func(any) any)), fn: func(m *meter, args []any) (any, error) {
		return args[0], m.step(scanCost(args[0]))
	}},
	{name: fnContains, types: typesOf(new(func(any, any) bool)), fn: func(m *meter, args []any) (any, error) {
		if runtime.IsNil(args[0]) || runtime.IsNil(args[1]) {
			return false, nil
		}
		if err := m.step(scanCost(args[0])); err != nil {
			return nil, err
		}
		return strings.Contains(args[0].(string), args[1].(string)), nil
	}},
}

// operatorTypes are the signatures of operatorFuncs, $env included.
var operatorTypes = func() map[string]reflect.Type {
	ts := map[string]reflect.Type{}
	for _, f := range operatorFuncs {
		ts[f.name] = withEnv(f.types[0])
	}
	return ts
}()

// meteredNames are the functions the rewrite passes $env to.
var meteredNames = func() map[string]bool {
	names := map[string]bool{}
	for _, f := range boundedBuiltins() {
		names[f.name] = true
	}
	for _, f := range functions {
		names[f.name] = true
	}
	return names
}()

// boundedOptions are what the expressions that run are compiled with: the
// bounded builtins and helpers, and the rewrite that makes them metered.
func boundedOptions() []expr.Option {
	opts := []expr.Option{expr.Env(Env{})}
	for _, f := range boundedBuiltins() {
		opts = append(opts, f.option())
	}
	for _, f := range operatorFuncs {
		opts = append(opts, f.option())
	}
	for _, f := range functions {
		opts = append(opts, meteredHelper(f).option())
	}
	// The order matters: expr type-checks the tree before each patch, so
	// the operator rewrite sees the types of the rewritten calls.
	return append(opts, expr.Patch(meterCalls{}), expr.Patch(meterOperators{}))
}

// meteredHelper charges a helper (containsAny, ...) for the text it goes
// through.
func meteredHelper(f function) meteredFunc {
	types := make([]reflect.Type, len(f.types))
	for i, t := range f.types {
		types[i] = reflect.TypeOf(t).Elem()
	}
	return meteredFunc{name: f.name, types: types, fn: func(m *meter, args []any) (any, error) {
		cost := 0
		for _, a := range args {
			cost += scanCost(a)
			if ws, ok := a.([]any); ok {
				for _, w := range ws {
					cost += scanCost(w)
				}
			}
		}
		if err := m.step(cost); err != nil {
			return nil, err
		}
		return f.fn(args...)
	}}
}

func envArg() ast.Node { return &ast.IdentifierNode{Value: "$env"} }

// meterCalls passes $env to every metered function and makes each turn of
// a closure take a step.
type meterCalls struct{}

func (meterCalls) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.CallNode:
		id, ok := n.Callee.(*ast.IdentifierNode)
		if !ok || !meteredNames[id.Value] {
			return
		}
		if len(n.Arguments) > 0 {
			if a, ok := n.Arguments[0].(*ast.IdentifierNode); ok && a.Value == "$env" {
				return // already passed
			}
		}
		n.Arguments = append([]ast.Node{envArg()}, n.Arguments...)
		// The check before this patch typed the call without $env, and
		// may have picked the wrong overload: have it typed again.
		n.SetNature(nature.Nature{})
		n.Callee.SetNature(nature.Nature{})
	case *ast.BuiltinNode:
		// sum(xs) and count(xs) loop too: give them the closure they
		// imply, so their turns are counted like the others.
		if (n.Name == "sum" || n.Name == "count") && len(n.Arguments) == 1 {
			n.Arguments = append(n.Arguments, &ast.PredicateNode{Node: &ast.PointerNode{}})
		}
		for _, a := range n.Arguments {
			p, ok := a.(*ast.PredicateNode)
			if !ok {
				continue
			}
			ast.Walk(&p.Node, meterComparisons{})
			step := &ast.CallNode{Callee: &ast.IdentifierNode{Value: fnStep}, Arguments: []ast.Node{envArg()}}
			step.SetLocation(n.Location())
			p.Node = &ast.SequenceNode{Nodes: []ast.Node{step, p.Node}}
		}
	}
}

// meterComparisons makes the comparisons of strings in a closure (==, <,
// matches, startsWith, ...) charge for the text they go through: once per
// evaluation they cost little, once per turn of a loop over a long text
// they would cost a great deal. The string operand is passed through a
// metered call that returns it as it is, so types, and the regular
// expressions compiled ahead for matches, stay as they were.
type meterComparisons struct{}

func (meterComparisons) Visit(node *ast.Node) {
	n, ok := (*node).(*ast.BinaryNode)
	if !ok {
		return
	}
	switch n.Operator {
	case "==", "!=", "<", ">", "<=", ">=", "matches", "startsWith", "endsWith":
	default:
		return
	}
	for _, side := range []*ast.Node{&n.Left, &n.Right} {
		t := (*side).Type()
		if !maybeString(t) || isScan(*side) {
			continue
		}
		if _, lit := (*side).(*ast.StringNode); lit {
			continue
		}
		callee := &ast.IdentifierNode{Value: fnScan}
		callee.SetType(operatorTypes[fnScan])
		call := &ast.CallNode{Callee: callee, Arguments: []ast.Node{envArg(), *side}}
		call.SetType(t)
		call.SetLocation((*side).Location())
		*side = call
		return // one side is enough: both are compared at the length of the shorter
	}
}

// isScan reports whether n is already a metered pass-through (closures
// nest, and each walks its body).
func isScan(n ast.Node) bool {
	c, ok := n.(*ast.CallNode)
	if !ok {
		return false
	}
	id, ok := c.Callee.(*ast.IdentifierNode)
	return ok && id.Value == fnScan
}

// meterOperators replaces + of strings (or of values whose type is known
// only at run time), `in` over a list and `contains` with metered calls.
type meterOperators struct{}

func (meterOperators) Visit(node *ast.Node) {
	n, ok := (*node).(*ast.BinaryNode)
	if !ok {
		return
	}
	l, r := n.Left.Type(), n.Right.Type()
	var fn string
	switch n.Operator {
	case "+":
		switch {
		case isKind(l, reflect.String) && isKind(r, reflect.String):
			fn = fnConcat
		case maybeString(l) && maybeString(r):
			fn = fnAdd
		}
	case "in":
		switch n.Right.(type) {
		case *ast.ArrayNode, *ast.ConstantNode:
			// A literal list: small, and made a set lookup by expr.
			return
		case *ast.BinaryNode:
			if n.Right.(*ast.BinaryNode).Operator == ".." {
				return // a range check, made a comparison by expr
			}
		}
		if isKind(r, reflect.Slice) || isKind(r, reflect.Array) || unknown(r) {
			fn = fnIn
		}
	case "contains":
		fn = fnContains
	}
	if fn == "" {
		return
	}
	callee := &ast.IdentifierNode{Value: fn}
	// The compiler reads the callee's type to pass the arguments right.
	callee.SetType(operatorTypes[fn])
	call := &ast.CallNode{Callee: callee, Arguments: []ast.Node{envArg(), n.Left, n.Right}}
	// Keep the operator's type: an enclosing + in this same walk reads it,
	// and the next check trusts a type set on a call.
	call.SetType(n.Type())
	ast.Patch(node, call)
}

func unknown(t reflect.Type) bool { return t == nil || t.Kind() == reflect.Interface }

func isKind(t reflect.Type, k reflect.Kind) bool { return t != nil && t.Kind() == k }

func maybeString(t reflect.Type) bool { return unknown(t) || t.Kind() == reflect.String }
