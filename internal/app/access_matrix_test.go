package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/towerhq/tower/domain/access"
	"github.com/towerhq/tower/graph/directives"
	"github.com/towerhq/tower/graph/generated"
)

// probeText is every required String argument of the matrix: unique to
// the run, so that what a probe creates collides with nothing.
var probeText = uniq("matrix-probe-")

// probeArg is a value of type t: the matrix calls each field with its
// required arguments filled in, never with anything that could pass for
// real input (ids that exist, times in the future).
func probeArg(s *ast.Schema, t *ast.Type) any {
	if t.Elem != nil {
		return []any{probeArg(s, t.Elem)}
	}
	switch t.NamedType {
	case "String":
		return probeText
	case "ID":
		return "999999999"
	case "Int":
		return 1
	case "Float":
		return 1.0
	case "Boolean":
		return false
	case "Time":
		return time.Now().Add(-time.Hour).Format(time.RFC3339)
	}
	def := s.Types[t.NamedType]
	switch def.Kind {
	case ast.Enum:
		return def.EnumValues[0].Name
	case ast.InputObject:
		m := map[string]any{}
		for _, f := range def.Fields {
			if f.Type.NonNull && f.DefaultValue == nil {
				m[f.Name] = probeArg(s, f.Type)
			}
		}
		return m
	}
	panic("no probe value for " + t.String())
}

// probe is the operation calling field of typ with its required
// arguments, selecting only __typename of an object result.
func probe(s *ast.Schema, typ string, f *ast.FieldDefinition) (string, map[string]any) {
	vars := map[string]any{}
	var decls, args []string
	for _, a := range f.Arguments {
		if !a.Type.NonNull || a.DefaultValue != nil {
			continue
		}
		vars[a.Name] = probeArg(s, a.Type)
		decls = append(decls, "$"+a.Name+": "+a.Type.String())
		args = append(args, a.Name+": $"+a.Name)
	}
	op := strings.ToLower(typ)
	if len(decls) > 0 {
		op += "(" + strings.Join(decls, ", ") + ")"
	}
	call := f.Name
	if len(args) > 0 {
		call += "(" + strings.Join(args, ", ") + ")"
	}
	if k := s.Types[f.Type.Name()].Kind; k == ast.Object || k == ast.Interface {
		call += " { __typename }"
	}
	return op + " { " + call + " }", vars
}

// outcome classifies an answer: allowed, FORBIDDEN by the field's policy,
// or UNAUTHENTICATED. A resolver's own refusal (a bad id, a queue the
// role does not read, a clock that is not simulated) counts as allowed:
// the policy let the call through.
func outcome(status int, errs []map[string]any, field string) string {
	if status == http.StatusUnauthorized {
		return "UNAUTHENTICATED"
	}
	for _, e := range errs {
		ext, _ := e["extensions"].(map[string]any)
		switch {
		case ext["code"] == "UNAUTHENTICATED":
			return "UNAUTHENTICATED"
		case ext["code"] == "FORBIDDEN" && ext["policy"] == field:
			return "FORBIDDEN"
		}
	}
	return "allowed"
}

func post(t testing.TB, url, token, query string, vars map[string]any) (int, map[string]any, []map[string]any) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, url+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Data   map[string]any
		Errors []map[string]any
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out.Data, out.Errors
}

// TestAuthorizationMatrix calls every Query, Mutation and Subscription
// field of the schema as anonymous and as each role, and checks each
// answer against the field's @hasRole: allowed, FORBIDDEN (and no data),
// or UNAUTHENTICATED. The fields come from the schema itself, so a new
// field is in the matrix the moment it exists, and one without a policy
// fails here (and keeps the node from starting).
func TestAuthorizationMatrix(t *testing.T) {
	s := startServer(t)
	schema := generated.NewExecutableSchema(generated.Config{}).Schema()
	policy, err := directives.FromSchema(schema)
	if err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{"anonymous": ""}
	callers := []string{"anonymous"}
	for _, r := range access.Roles {
		tokens[r.String()] = s.tokenFor(t, r)
		callers = append(callers, r.String())
	}
	want := func(field, caller string) string {
		if caller == "anonymous" {
			return "UNAUTHENTICATED"
		}
		r, _ := access.ParseRole(caller)
		if policy.Allows(field, r) {
			return "allowed"
		}
		return "FORBIDDEN"
	}
	fields := 0
	for _, typ := range []string{"Query", "Mutation"} {
		for _, f := range schema.Types[typ].Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			fields++
			key := typ + "." + f.Name
			op, vars := probe(schema, typ, f)
			t.Run(key, func(t *testing.T) {
				for _, c := range callers {
					status, data, errs := post(t, s.URL, tokens[c], op, vars)
					got := outcome(status, errs, key)
					if got != want(key, c) {
						t.Errorf("%s as %s: %s, want %s (HTTP %d, errors %v)", key, c, got, want(key, c), status, errs)
					}
					if got != "allowed" && data != nil && data[f.Name] != nil {
						t.Errorf("%s as %s: refused, yet data %v", key, c, data[f.Name])
					}
				}
			})
		}
	}

	// Subscriptions, over a websocket as browsers and tools use them.
	for _, c := range callers {
		t.Run("Subscription as "+c, func(t *testing.T) {
			payload := map[string]any{}
			if tokens[c] != "" {
				payload["Authorization"] = "Bearer " + tokens[c]
			}
			role, _ := access.ParseRole(c)
			switch code := dialRefused(t, s.URL, "graphql-transport-ws", payload, nil); {
			case c == "anonymous":
				if code != 4401 {
					t.Fatalf("anonymous connection_init: close %d, want 4401", code)
				}
				return
			case !policy.MaySubscribe(role):
				if code != 4403 {
					t.Fatalf("%s may subscribe to nothing: close %d, want 4403", c, code)
				}
				return
			case code != 0:
				t.Fatalf("%s: closed with %d", c, code)
			}
			ws := dialGraphQL(t, s.URL, "graphql-transport-ws", payload)
			for i, f := range schema.Subscription.Fields {
				key := "Subscription." + f.Name
				op, vars := probe(schema, "Subscription", f)
				data, errCh := ws.subscribe(fmt.Sprint(i), op, vars)
				got := "allowed"
				select {
				case raw := <-errCh:
					var errs []map[string]any
					_ = json.Unmarshal(raw, &errs)
					got = outcome(200, errs, key)
				case raw := <-data:
					var p struct{ Errors []map[string]any }
					_ = json.Unmarshal(raw, &p)
					got = outcome(200, p.Errors, key)
				case <-time.After(300 * time.Millisecond):
					// Still open and quiet: the subscription was accepted.
				}
				if got != want(key, c) {
					t.Errorf("%s as %s: %s, want %s", key, c, got, want(key, c))
				}
			}
		})
	}
	if n := len(policy.Fields()); n != fields+len(schema.Subscription.Fields) {
		t.Errorf("policy has %d fields, the schema %d", n, fields+len(schema.Subscription.Fields))
	}
	t.Logf("%d root fields × %d callers checked", len(policy.Fields()), len(callers))
}

// Every answer a role's token gets from `me` matches the policy it
// was given, so the SPA can hide what the server would refuse.
func TestMe(t *testing.T) {
	s := startServer(t)
	policy, _ := directives.FromSchema(generated.NewExecutableSchema(generated.Config{}).Schema())
	for _, r := range access.Roles {
		tok := s.tokenFor(t, r, scopesFor(r)...)
		data, errs := s.gqlAs(t, tok, `{ me { name role scopes via queues personalData can } }`, nil)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		me := data["me"].(map[string]any)
		var can []string
		for _, c := range me["can"].([]any) {
			can = append(can, c.(string))
		}
		if me["role"] != r.String() || me["via"] != "token" || !slices.Equal(can, policy.Can(r)) {
			t.Errorf("%s: me %v", r, me)
		}
		if r == access.Warehouse && fmt.Sprint(me["scopes"]) != "[warehouse=HZ-01]" {
			t.Errorf("warehouse scopes %v", me["scopes"])
		}
	}
}

func scopesFor(r access.Role) []string {
	if r == access.Warehouse {
		return []string{"warehouse=HZ-01"}
	}
	return nil
}

// The IT engineer reads how the node and its connectors are doing.
func TestSystemHealth(t *testing.T) {
	s := startServer(t)
	data, errs := s.gqlAs(t, s.tokenFor(t, access.IT), `{ systemHealth { checks { name ok error } connectors { source type reconciled } parkedMessages } }`, nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	h := data["systemHealth"].(map[string]any)
	checks := fmt.Sprint(h["checks"])
	if !strings.Contains(checks, "name:database ok:true") || !strings.Contains(checks, "name:bus ok:true") {
		t.Errorf("checks %s", checks)
	}
	if fmt.Sprint(h["connectors"]) != "[map[reconciled:false source:erp type:standard]]" {
		t.Errorf("connectors %v", h["connectors"])
	}
}
