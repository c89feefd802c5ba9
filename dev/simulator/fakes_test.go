package simulator

import (
	"testing"

	"github.com/towerhq/tower/internal/platforms/registry"
)

// Every platform has its line in fakes, and no fake plays an unknown type.
func TestEveryPlatformHasAFake(t *testing.T) {
	for _, typ := range registry.Types() {
		if _, ok := fakeOf(typ); !ok {
			t.Errorf("platform %s has no fake in fakes.go", typ)
		}
	}
	for _, f := range fakes {
		if _, ok := registry.Lookup(f.Type()); !ok {
			t.Errorf("fake of %s, a type the registry does not list", f.Type())
		}
	}
}
