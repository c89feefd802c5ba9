// Package directives enforces the schema's @hasRole and @audit directives,
// and reads the policy they declare: which role may use each root field.
// The schema is the one place that says who may read or call what; this
// package applies it to every call and lets the rest of the server ask it
// (which fields a role may use, whether it may subscribe at all).
package directives

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/towerhq/tower/domain/access"
	"github.com/towerhq/tower/graph/model"
	"github.com/towerhq/tower/internal/audit"
)

// Error codes of refusals, as the error presenter writes them.
const (
	CodeUnauthenticated = "UNAUTHENTICATED"
	CodeForbidden       = "FORBIDDEN"
)

// Error is a refusal meant for the caller. Policy names the field whose
// @hasRole refused (Type.field), so clients can tell a role's refusal from
// a resolver's.
type Error struct{ Code, Msg, Policy string }

func (e *Error) Error() string { return e.Msg }

// Unauthenticated refuses a caller without valid credentials.
func Unauthenticated() error {
	return &Error{Code: CodeUnauthenticated, Msg: "authentication required: log in or send Authorization: Bearer <token>"}
}

// Forbidden refuses a caller whose role may not do what it asked.
func Forbidden(msg string) error { return &Error{Code: CodeForbidden, Msg: msg} }

// RootTypes are the operation types whose every field needs a policy.
var RootTypes = []string{"Query", "Mutation", "Subscription"}

// Policy is the @hasRole of every root field, keyed Type.field.
type Policy struct {
	roles map[string][]access.Role
}

// FromSchema reads the policy of s. A root field without @hasRole is an
// error: the server does not start rather than serve it to everyone.
func FromSchema(s *ast.Schema) (*Policy, error) {
	p := &Policy{roles: map[string][]access.Role{}}
	var missing []string
	for _, typ := range RootTypes {
		def := s.Types[typ]
		if def == nil {
			continue
		}
		for _, f := range def.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			key := typ + "." + f.Name
			d := f.Directives.ForName("hasRole")
			if d == nil {
				missing = append(missing, key)
				continue
			}
			arg := d.Arguments.ForName("roles")
			if arg == nil || arg.Value == nil {
				return nil, fmt.Errorf("policy: %s: @hasRole without roles", key)
			}
			for _, c := range arg.Value.Children {
				r, err := access.ParseRole(c.Value.Raw)
				if err != nil {
					return nil, fmt.Errorf("policy: %s: %w", key, err)
				}
				p.roles[key] = append(p.roles[key], r)
			}
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("policy: no @hasRole on %s", strings.Join(missing, ", "))
	}
	return p, nil
}

// Fields lists every root field, sorted.
func (p *Policy) Fields() []string {
	out := make([]string, 0, len(p.roles))
	for k := range p.roles {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Allows reports whether r may use field (Type.field).
func (p *Policy) Allows(field string, r access.Role) bool {
	return slices.Contains(p.roles[field], r)
}

// Can lists the root fields r may use, sorted.
func (p *Policy) Can(r access.Role) []string {
	var out []string
	for _, f := range p.Fields() {
		if p.Allows(f, r) {
			out = append(out, f)
		}
	}
	return out
}

// MaySubscribe reports whether r may use any subscription: a websocket of
// a role that may not is closed at connection_init (4403).
func (p *Policy) MaySubscribe(r access.Role) bool {
	for k, rs := range p.roles {
		if strings.HasPrefix(k, "Subscription.") && slices.Contains(rs, r) {
			return true
		}
	}
	return false
}

// HasRole is @hasRole: the caller must be authenticated and hold one of
// roles.
func HasRole(ctx context.Context, _ any, next graphql.Resolver, roles []model.Role) (any, error) {
	p, ok := access.FromContext(ctx)
	if !ok {
		return nil, Unauthenticated()
	}
	for _, r := range roles {
		if string(r) == p.Role.String() {
			return next(ctx)
		}
	}
	field := ""
	if fc := graphql.GetFieldContext(ctx); fc != nil {
		field = fc.Object + "." + fc.Field.Name
	}
	return nil, &Error{Code: CodeForbidden, Msg: fmt.Sprintf("the %s role may not use %s", p.Role, field), Policy: field}
}

// Recorder stores an audit entry.
type Recorder func(ctx context.Context, e audit.Entry) error

// Audit returns @audit: after a successful call, it records the action
// with its subject filled from the call's arguments.
func Audit(record Recorder, now func() time.Time, log *slog.Logger) func(ctx context.Context, obj any, next graphql.Resolver, action string, subject *string) (any, error) {
	return func(ctx context.Context, _ any, next graphql.Resolver, action string, subject *string) (any, error) {
		res, err := next(ctx)
		if err != nil {
			return res, err
		}
		p, _ := access.FromContext(ctx)
		e := audit.Entry{At: now(), Actor: p.Actor(), Action: action, Remote: audit.RemoteFrom(ctx)}
		if subject != nil {
			var args map[string]any
			if fc := graphql.GetFieldContext(ctx); fc != nil && graphql.HasOperationContext(ctx) {
				args = fc.Field.ArgumentMap(graphql.GetOperationContext(ctx).Variables)
			}
			e.Subject = Fill(*subject, args)
		}
		// The change is made: failing the call now would tell the caller
		// it was not. The missing entry is logged loudly instead.
		if err := record(context.WithoutCancel(ctx), e); err != nil {
			log.ErrorContext(ctx, "audit entry lost", "action", action, "subject", e.Subject, "err", err)
		}
		return res, nil
	}
}

// Fill replaces each {a.b} in template with that argument's value ("" when
// absent).
func Fill(template string, args map[string]any) string {
	var b strings.Builder
	for {
		open := strings.IndexByte(template, '{')
		if open < 0 {
			break
		}
		end := strings.IndexByte(template[open:], '}')
		if end < 0 {
			break
		}
		b.WriteString(template[:open])
		b.WriteString(lookup(args, template[open+1:open+end]))
		template = template[open+end+1:]
	}
	b.WriteString(template)
	return b.String()
}

func lookup(args map[string]any, path string) string {
	var v any = args
	for _, part := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[part]
	}
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	default:
		return fmt.Sprint(x)
	}
}

// Markdown writes the policy as a table, one row per root field and one
// column per role (the README shows it; a test keeps the two equal).
func (p *Policy) Markdown() string {
	var b strings.Builder
	b.WriteString("| field |")
	for _, r := range access.Roles {
		b.WriteString(" " + r.String() + " |")
	}
	b.WriteString("\n|---|")
	for range access.Roles {
		b.WriteString(":-:|")
	}
	b.WriteString("\n")
	for _, typ := range RootTypes {
		for _, f := range p.Fields() {
			if !strings.HasPrefix(f, typ+".") {
				continue
			}
			b.WriteString("| `" + f + "` |")
			for _, r := range access.Roles {
				if p.Allows(f, r) {
					b.WriteString(" ✓ |")
				} else {
					b.WriteString("   |")
				}
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}
