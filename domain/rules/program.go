package rules

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/patcher"
	"github.com/expr-lang/expr/vm"

	"github.com/towerhq/tower/domain/order"
)

// CompileError is a syntax or type error in one of a rule's expressions.
// Line and Column are 1-based; Column counts characters (runes), not bytes.
type CompileError struct {
	Rule    string `json:"rule"`
	Field   string `json:"field"` // "expression" or "dueExpr"
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Message string `json:"message"`
}

func (e *CompileError) Error() string {
	return fmt.Sprintf("rule %q: %s:%d:%d: %s", e.Rule, e.Field, e.Line, e.Column, e.Message)
}

// RuntimeError is an error evaluating a compiled expression: a nil
// dereference, a helper given a bad argument, a result of the wrong type.
// Line and Column (1-based, 0 when unknown) point into the expression.
type RuntimeError struct {
	Rule    string `json:"rule"`
	Field   string `json:"field"` // "expression" or "dueExpr"
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Message string `json:"message"`
	Err     error  `json:"-"`
}

func (e *RuntimeError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("rule %q: %s:%d:%d: %s", e.Rule, e.Field, e.Line, e.Column, e.Message)
	}
	return fmt.Sprintf("rule %q: %s: %s", e.Rule, e.Field, e.Message)
}

func (e *RuntimeError) Unwrap() error { return e.Err }

// Program is a compiled rule, safe for concurrent use.
type Program struct {
	rule Rule
	cond *vm.Program
	due  *vm.Program // nil unless DueExpr is set
}

var (
	timeType    = reflect.TypeOf(time.Time{})
	timePtrType = reflect.TypeOf((*time.Time)(nil))
)

// options are the expr options every expression is checked with: what
// rule authors see, and what their compile errors are about.
func options() []expr.Option {
	return append(commonOptions(), append([]expr.Option{expr.Env(Env{})}, functionOptions()...)...)
}

func commonOptions() []expr.Option {
	return []expr.Option{
		// Rules never read the clock: time is the input `now`.
		expr.DisableBuiltin("now"),
		// date("2025-11-11") means Beijing time.
		expr.Patch(patcher.WithTimezone{Location: Location}),
	}
}

// compile checks src as written, so that errors speak of the expression
// the author wrote, then compiles the program that runs: the same
// expression rewritten to stay within the evaluation bounds (see
// MaxSteps).
func compile(src string, rule, field string, extra expr.Option) (*vm.Program, error) {
	if _, err := expr.Compile(src, append(options(), extra)...); err != nil {
		return nil, compileError(rule, field, err)
	}
	prog, err := expr.Compile(src, append(append(commonOptions(), boundedOptions()...), extra)...)
	if err != nil {
		return nil, compileError(rule, field, fmt.Errorf("bounding the expression: %w", err))
	}
	return prog, nil
}

// Compile validates r and compiles its expressions. A validation failure
// is a *ValidationError, an expression error a *CompileError. Disabled
// rules compile too, so the editor can check them; Eval does not look at
// Enabled.
func Compile(r Rule) (*Program, error) {
	if err := Validate(r); err != nil {
		return nil, err
	}
	r = cloneRule(r)
	p := &Program{rule: r}
	var err error
	p.cond, err = compile(r.Expression, r.Name, "expression", expr.AsBool())
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(r.DueExpr) != "" {
		p.due, err = compile(r.DueExpr, r.Name, "dueExpr", expr.AsAny())
		if err != nil {
			return nil, err
		}
		switch t := p.due.Node().Type(); {
		case t == nil, t.Kind() == reflect.Interface, t == timeType, t == timePtrType:
		default:
			return nil, &CompileError{Rule: r.Name, Field: "dueExpr", Line: 1, Column: 1,
				Message: fmt.Sprintf("must give a time (or nil), not %s", t)}
		}
	}
	return p, nil
}

// CompileAll compiles rules in order. On any failure it returns no
// programs and an error joining every rule's error; two rules with the same
// name are an error too.
func CompileAll(rules []Rule) ([]*Program, error) {
	ps := make([]*Program, 0, len(rules))
	var errs []error
	seen := make(map[string]bool, len(rules))
	for _, r := range rules {
		if seen[r.Name] {
			errs = append(errs, &ValidationError{Rule: r.Name, Fields: []*FieldError{{Field: "name", Message: "duplicate rule name"}}})
			continue
		}
		seen[r.Name] = true
		p, err := Compile(r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ps = append(ps, p)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return ps, nil
}

func compileError(rule, field string, err error) error {
	ce := &CompileError{Rule: rule, Field: field, Line: 1, Column: 1, Message: err.Error()}
	var fe *file.Error
	if errors.As(err, &fe) {
		ce.Message = fe.Message
		if fe.Line > 0 {
			ce.Line, ce.Column = fe.Line, fe.Column+1 // expr's column is 0-based
		}
	}
	return ce
}

func cloneRule(r Rule) Rule {
	r.On = slices.Clone(r.On)
	r.Until = slices.Clone(r.Until)
	r.Actions.Tags = slices.Clone(r.Actions.Tags)
	return r
}

// Rule returns the rule p was compiled from (a copy).
func (p *Program) Rule() Rule { return cloneRule(p.rule) }

// Name is the rule's name.
func (p *Program) Name() string { return p.rule.Name }

// Deadline reports whether p is a deadline rule.
func (p *Program) Deadline() bool { return p.rule.Deadline() }

// Listens reports whether an event of kind k triggers the rule: evaluation
// for an immediate rule, the start of a wait for a deadline rule.
func (p *Program) Listens(k order.Kind) bool {
	return len(p.rule.On) == 0 || slices.Contains(p.rule.On, k)
}

// Cancels reports whether an event of kind k cancels the rule's pending
// deadline and resolves its alert.
func (p *Program) Cancels(k order.Kind) bool { return slices.Contains(p.rule.Until, k) }

// runner is a VM (its stacks), a copy of the Env an evaluation runs on
// and its meter, reused across evaluations: the copy carries the meter to
// the bounded builtins without writing to the caller's Env, and costs no
// allocation.
type runner struct {
	vm    vm.VM
	env   Env
	meter meter
}

var runners = sync.Pool{New: func() any { return new(runner) }}

func (p *Program) run(prog *vm.Program, field string, env *Env) (out any, err error) {
	r := runners.Get().(*runner)
	defer func() {
		if rec := recover(); rec != nil {
			// The VM recovers its own panics; this catches the rest. The VM
			// may be in a bad state: drop it.
			out, err = nil, &RuntimeError{Rule: p.rule.Name, Field: field, Message: fmt.Sprintf("panic: %v", rec)}
			return
		}
		r.env = Env{} // keep no twin alive from the pool
		runners.Put(r)
	}()
	r.env, r.meter = *env, meter{}
	r.env.meter = &r.meter
	r.vm.MemoryBudget = vmMemoryBudget
	out, err = r.vm.Run(prog, &r.env)
	if err != nil {
		if strings.Contains(err.Error(), "memory budget exceeded") {
			// expr's own budget, reported as a plain message.
			err = fmt.Errorf("%w: %w", &boundsError{"evaluation builds more than expr's memory budget (elements of ranges, arrays and maps)"}, err)
		}
		re := &RuntimeError{Rule: p.rule.Name, Field: field, Message: err.Error(), Err: err}
		var fe *file.Error
		if errors.As(err, &fe) {
			re.Message = fe.Message
			if fe.Line > 0 {
				re.Line, re.Column = fe.Line, fe.Column+1
			}
		}
		return nil, re
	}
	return out, nil
}

// Eval evaluates the rule's expression. Runtime errors (a nil dereference,
// event.type in a deadline) come back as a *RuntimeError, never as a panic.
// Eval does not check Listens or Enabled: the caller does.
func (p *Program) Eval(env Env) (bool, error) { return p.EvalRef(&env) }

// EvalRef is Eval on a shared Env, which it does not modify: evaluating
// many rules on one Env this way saves copying it (about 650 bytes) to the
// heap for each rule.
func (p *Program) EvalRef(env *Env) (bool, error) {
	out, err := p.run(p.cond, "expression", env)
	if err != nil {
		return false, err
	}
	b, ok := out.(bool)
	if !ok {
		return false, &RuntimeError{Rule: p.rule.Name, Field: "expression", Message: fmt.Sprintf("gave %T, want bool", out)}
	}
	return b, nil
}

// Due is when a deadline rule's wait ends, for the triggering event in
// env.Event: the event's time + After, or the time DueExpr gives. ok is
// false when there is no deadline: not a deadline rule, or DueExpr gave nil
// or the zero time (an order without shipBy). The time is in UTC.
func (p *Program) Due(env Env) (due time.Time, ok bool, err error) {
	switch {
	case p.rule.After > 0:
		if env.Event == nil {
			return time.Time{}, false, &RuntimeError{Rule: p.rule.Name, Field: "after", Message: "no event to count from"}
		}
		return env.Event.At.Add(p.rule.After).UTC(), true, nil
	case p.due != nil:
		out, err := p.run(p.due, "dueExpr", &env)
		if err != nil {
			return time.Time{}, false, err
		}
		switch t := out.(type) {
		case nil:
			return time.Time{}, false, nil
		case time.Time:
			return t.UTC(), !t.IsZero(), nil
		case *time.Time:
			if t == nil || t.IsZero() {
				return time.Time{}, false, nil
			}
			return t.UTC(), true, nil
		default:
			return time.Time{}, false, &RuntimeError{Rule: p.rule.Name, Field: "dueExpr", Message: fmt.Sprintf("gave %T, want a time", out)}
		}
	}
	return time.Time{}, false, nil
}
