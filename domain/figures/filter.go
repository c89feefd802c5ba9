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

// Summed stands for a dimension summed over. Besides each order's own
// scope, its flows are counted pre-summed (Sums): over everything, and per
// channel, per shop and per warehouse alone, so that the views' usual
// questions read one row per metric and hour (or day) however many scopes
// there are, instead of one per scope.
const Summed = "*"

// own keeps an order's own scope apart from the pre-summed ones: a name
// that is Summed itself is counted under a name that is not.
func own(v string) string {
	if v == Summed {
		return "(" + Summed + ")"
	}
	return v
}

// Sums are the pre-summed scopes an order of scope s counts in too.
func (s Scope) Sums() [4]Scope {
	return [4]Scope{
		{Summed, Summed, Summed, Summed},
		{s.Channel, Summed, Summed, Summed},
		{Summed, s.Shop, Summed, Summed},
		{Summed, Summed, s.Warehouse, Summed},
	}
}

// Presummed reports whether f is answered by the pre-summed scopes: it
// narrows at most one of channel, shop and warehouse, and not the courier.
func (f Filter) Presummed() bool {
	n := 0
	for _, vs := range [][]string{f.Channels, f.Shops, f.Warehouses} {
		if len(vs) > 0 {
			n++
		}
	}
	return n <= 1 && len(f.Couriers) == 0
}
