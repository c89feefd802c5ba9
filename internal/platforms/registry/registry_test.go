package registry_test

import (
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/towerhq/tower/internal/platforms"
	"github.com/towerhq/tower/internal/platforms/registry"
)

func TestTypesAreUniqueAndFound(t *testing.T) {
	types := registry.Types()
	if len(types) == 0 {
		t.Fatal("no platforms")
	}
	for i, typ := range types {
		if slices.Index(types, typ) != i {
			t.Errorf("type %q listed twice", typ)
		}
		p, ok := registry.Lookup(typ)
		if !ok || p.Type() != typ {
			t.Errorf("Lookup(%q) = %v, %v", typ, p.Type(), ok)
		}
	}
	if _, ok := registry.Lookup("shopify"); ok {
		t.Error("an unknown type was found")
	}
	if got := registry.Pulling(); !slices.Equal(got, []string{"standard", "douyin", "tmall"}) {
		t.Errorf("Pulling = %v", got)
	}
}

// Every platform decodes its own keys, refuses others by name, reads an
// empty section, and redacts without touching what it was given.
func TestEveryPlatformSection(t *testing.T) {
	for _, typ := range registry.Types() {
		t.Run(typ, func(t *testing.T) {
			p, _ := registry.Lookup(typ)
			if len(p.Keys()) == 0 {
				t.Fatal("no keys")
			}
			var n yaml.Node
			if err := yaml.Unmarshal([]byte("{}"), &n); err != nil {
				t.Fatal(err)
			}
			empty, err := p.Decode(n.Content[0])
			if err != nil {
				t.Fatalf("empty section: %v", err)
			}
			if problems := p.Check(platforms.Spec{Name: "x", Settings: empty}, false); len(problems) == 0 {
				t.Errorf("an empty %s section passes Check", typ)
			}
			if err := yaml.Unmarshal([]byte("bogus_key: 1\n"), &n); err != nil {
				t.Fatal(err)
			}
			if _, err := p.Decode(n.Content[0]); err == nil || !strings.Contains(err.Error(), "field bogus_key not found") {
				t.Errorf("unknown key: %v", err)
			}
			if _, err := p.NewSource(platforms.Spec{Name: "x", Settings: foreign{}}, nil); err == nil {
				t.Error("another platform's settings were taken")
			}
			if got := p.Check(platforms.Spec{Name: "x", Settings: foreign{}}, false); len(got) != 1 || got[0].Key != "type" {
				t.Errorf("Check of another platform's settings = %v", got)
			}
		})
	}
}

type foreign struct{}

func (f foreign) WithEnv(platforms.Env) (platforms.Settings, error) { return f, nil }
func (foreign) Check(platforms.Spec, bool) []platforms.Problem      { return nil }
func (f foreign) Redacted() platforms.Settings                      { return f }
