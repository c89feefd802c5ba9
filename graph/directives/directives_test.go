package directives

import (
	"context"
	"errors"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/towerhq/tower/domain/access"
	"github.com/towerhq/tower/graph/generated"
	"github.com/towerhq/tower/graph/model"
)

var update = flag.Bool("update", false, "rewrite the README's policy table from the schema")

const directivesSDL = `
directive @hasRole(roles: [Role!]!) on FIELD_DEFINITION
enum Role { ceo ops warehouse cs it admin }
`

func load(t *testing.T, sdl string) *ast.Schema {
	t.Helper()
	s, err := gqlparser.LoadSchema(&ast.Source{Name: "test.graphqls", Input: directivesSDL + sdl})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A root field without @hasRole is refused: the node does not start, and
// this is the test that fails when someone adds one.
func TestFromSchema(t *testing.T) {
	t.Parallel()
	p, err := FromSchema(load(t, `
type Query { a: Int @hasRole(roles: [ops, admin]) }
type Subscription { s: Int @hasRole(roles: [cs]) }`))
	if err != nil {
		t.Fatal(err)
	}
	if !p.Allows("Query.a", access.Ops) || p.Allows("Query.a", access.CS) || !p.MaySubscribe(access.CS) || p.MaySubscribe(access.IT) {
		t.Fatalf("policy %+v", p.roles)
	}
	if got := p.Can(access.Admin); len(got) != 1 || got[0] != "Query.a" {
		t.Fatalf("admin can %q", got)
	}
	_, err = FromSchema(load(t, `
type Query { a: Int @hasRole(roles: [ops]) b: Int }
type Mutation { m: Int }`))
	if err == nil || !strings.Contains(err.Error(), "Mutation.m") || !strings.Contains(err.Error(), "Query.b") {
		t.Fatalf("fields without a policy: %v", err)
	}
}

// Tower's own schema has a policy on every root field, and an @audit on
// every mutation: each change is in the audit log.
func TestTowerSchema(t *testing.T) {
	t.Parallel()
	s := generated.NewExecutableSchema(generated.Config{}).Schema()
	if _, err := FromSchema(s); err != nil {
		t.Fatal(err)
	}
	for _, f := range s.Mutation.Fields {
		if d := f.Directives.ForName("audit"); d == nil {
			t.Errorf("Mutation.%s has no @audit", f.Name)
		} else if sub := d.Arguments.ForName("subject"); sub != nil {
			// Subjects name things; they never carry what a caller typed
			// as a secret or a note.
			for _, bad := range []string{"password", "Password", "text", "note", "secret"} {
				if strings.Contains(sub.Value.Raw, "{"+bad) || strings.Contains(sub.Value.Raw, "."+bad+"}") {
					t.Errorf("Mutation.%s audits %s", f.Name, bad)
				}
			}
		}
	}
}

// The README's table is the schema's policy.
func TestREADMEMatrix(t *testing.T) {
	p, err := FromSchema(generated.NewExecutableSchema(generated.Config{}).Schema())
	if err != nil {
		t.Fatal(err)
	}
	const path = "../../README.md"
	const begin, end = "<!-- policy:begin (go test ./graph/directives -update) -->\n", "<!-- policy:end -->"
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	i, j := strings.Index(readme, begin), strings.Index(readme, end)
	if i < 0 || j < i {
		t.Fatalf("README.md has no %q ... %q block", begin, end)
	}
	want := p.Markdown()
	if got := readme[i+len(begin) : j]; got != want {
		if *update {
			if err := os.WriteFile(path, []byte(readme[:i+len(begin)]+want+readme[j:]), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("README.md's policy table differs from the schema; run go test ./graph/directives -update\n%s", want)
	}
}

func TestHasRole(t *testing.T) {
	t.Parallel()
	next := func(context.Context) (any, error) { return "data", nil }
	ctx := graphql.WithFieldContext(context.Background(), &graphql.FieldContext{Object: "Query", Field: graphql.CollectedField{Field: &ast.Field{Name: "orders"}}})
	tests := []struct {
		name string
		p    *access.Principal
		code string
	}{
		{"anonymous", nil, CodeUnauthenticated},
		{"allowed", &access.Principal{Name: "a", Role: access.Ops}, ""},
		{"refused", &access.Principal{Name: "b", Role: access.IT}, CodeForbidden},
	}
	for _, tt := range tests {
		c := ctx
		if tt.p != nil {
			c = access.WithPrincipal(ctx, *tt.p)
		}
		res, err := HasRole(c, nil, next, []model.Role{model.RoleOps, model.RoleAdmin})
		var e *Error
		switch {
		case tt.code == "" && (err != nil || res != "data"):
			t.Errorf("%s: %v, %v", tt.name, res, err)
		case tt.code != "" && (!errors.As(err, &e) || e.Code != tt.code || res != nil):
			t.Errorf("%s: %v, %v; want %s and no data", tt.name, res, err, tt.code)
		case tt.code == CodeForbidden && e.Policy != "Query.orders":
			t.Errorf("%s: policy %q", tt.name, e.Policy)
		}
	}
}

func TestFill(t *testing.T) {
	t.Parallel()
	args := map[string]any{"id": "12", "input": map[string]any{"name": "late_ship", "n": 3}, "on": true}
	for tpl, want := range map[string]string{
		"alert {id}":                      "alert 12",
		"rule {input.name} ({input.n})":   "rule late_ship (3)",
		"{missing} and {input.nope} {on}": " and  true",
		"no placeholders":                 "no placeholders",
		"unclosed {id":                    "unclosed {id",
	} {
		if got := Fill(tpl, args); got != want {
			t.Errorf("Fill(%q) = %q, want %q", tpl, got, want)
		}
	}
}
