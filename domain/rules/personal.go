package rules

import (
	"slices"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
)

// personalOrder are the order fields that hold buyers' personal data, and
// personalReceiver those of order.receiver (province, city and district
// are not personal: they are shown unmasked).
var (
	personalOrder    = []string{"buyerIp", "buyerId"}
	personalReceiver = []string{"name", "phone", "address"}
)

// PersonalNames lists the personal data an expression reads
// (order.receiver.phone, order.buyerIp, ...). A rule's hits say something
// about the values it tests, so someone who may not see personal data must
// not write rules reading it: a backtest over `order.receiver.phone
// startsWith "1380"` would disclose phone numbers digit by digit. The check
// is conservative: using order, order.receiver or $env as a whole (passing
// it to a function, indexing it with a computed key) counts as reading
// all of it.
func PersonalNames(expression string) ([]string, error) {
	if expression == "" {
		return nil, nil
	}
	tree, err := parser.Parse(expression)
	if err != nil {
		return nil, compileError("", "expression", err)
	}
	c := &uses{parents: map[ast.Node]*ast.MemberNode{}}
	ast.Walk(&tree.Node, c)
	var out []string
	add := func(name string) {
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	for _, id := range c.idents {
		switch id.Value {
		case "$env":
			add("$env")
		case "order":
			m := c.parents[id]
			prop, ok := constProperty(m)
			switch {
			case !ok:
				add("order")
			case slices.Contains(personalOrder, prop):
				add("order." + prop)
			case prop == "receiver":
				sub, ok := constProperty(c.parents[m])
				if !ok || slices.Contains(personalReceiver, sub) {
					if !ok {
						sub = "*"
					}
					add("order.receiver." + sub)
				}
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// uses collects identifiers and, for each node, the member access made on
// it.
type uses struct {
	parents map[ast.Node]*ast.MemberNode
	idents  []*ast.IdentifierNode
}

func (u *uses) Visit(n *ast.Node) {
	switch x := (*n).(type) {
	case *ast.MemberNode:
		u.parents[x.Node] = x
	case *ast.IdentifierNode:
		u.idents = append(u.idents, x)
	}
}

// constProperty is the name m reads, when it is a constant.
func constProperty(m *ast.MemberNode) (string, bool) {
	if m == nil {
		return "", false
	}
	s, ok := m.Property.(*ast.StringNode)
	if !ok {
		return "", false
	}
	return s.Value, true
}
