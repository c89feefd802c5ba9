package figures

import "slices"

// Filter narrows figures to scopes: each non-empty list keeps the orders
// whose value is one of its entries; empty lists keep all. Lists (not one
// value each) so that an account's scopes and a view's filter can be
// intersected.
type Filter struct {
	Channels, Shops, Warehouses, Couriers []string
}

// Match reports whether s is within f.
func (f Filter) Match(s Scope) bool {
	in := func(vs []string, v string) bool { return len(vs) == 0 || slices.Contains(vs, v) }
	return in(f.Channels, s.Channel) && in(f.Shops, s.Shop) && in(f.Warehouses, s.Warehouse) && in(f.Couriers, s.Courier)
}
