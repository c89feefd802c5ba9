package resolvers

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/towerhq/tower/domain/access"
	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/domain/rules"
	"github.com/towerhq/tower/events"
	"github.com/towerhq/tower/internal/audit"
)

// seesPersonal reports whether the caller sees buyers' personal data
// unmasked in this answer: admin always, cs only when asking for one order
// by channel and number (oneOrder), everyone else never.
func seesPersonal(ctx context.Context, oneOrder bool) bool {
	switch caller(ctx).Role.PersonalData() {
	case access.Unmasked:
		return true
	case access.OneOrder:
		return oneOrder
	}
	return false
}

// inScope reports whether the caller may see an order of channel shipped
// from warehouse.
func inScope(ctx context.Context, channel, warehouse string) bool {
	return caller(ctx).Scopes.Allows(channel, warehouse)
}

func twinInScope(ctx context.Context, s events.TwinSnapshot) bool {
	return inScope(ctx, s.Twin.Key.Channel, s.Twin.Details.Warehouse)
}

// unscoped refuses callers limited to channels or warehouses: what they
// asked for changes (or replays) everything, not only their part.
func unscoped(ctx context.Context) error {
	if !caller(ctx).Scopes.Unlimited() {
		return &codedError{code: CodeForbidden, msg: "an account limited to channels or warehouses may not change, replay or read what applies to all of them"}
	}
	return nil
}

// warehouses remembers orders' warehouses for a minute, for the pushes to
// warehouse-scoped subscribers: an alert storm asks for the same orders
// once per node, not once per subscriber.
type warehouses struct {
	once  sync.Once
	cache *expirable.LRU[order.Key, string]
}

// visible reports whether the caller may see an alert or work item on
// order k; lookups happen only for warehouse-scoped callers.
func (r *Resolver) visible(ctx context.Context, k order.Key) bool {
	sc := caller(ctx).Scopes
	if len(sc.Warehouses) == 0 {
		return sc.Allows(k.Channel, "")
	}
	if !sc.Allows(k.Channel, sc.Warehouses[0]) {
		return false // outside the channel scope whatever the warehouse
	}
	r.wh.once.Do(func() { r.wh.cache = expirable.NewLRU[order.Key, string](10_000, nil, time.Minute) })
	w, ok := r.wh.cache.Get(k)
	if !ok {
		var err error
		if w, err = r.Store.Warehouse(ctx, k); err != nil {
			return false // refuse rather than guess
		}
		r.wh.cache.Add(k, w)
	}
	return sc.Allows(k.Channel, w)
}

// selectsReceiver reports whether the current field's selection asks for
// personal data, so that a cs agent opening an order without its receiver
// is not recorded as viewing it.
func selectsReceiver(ctx context.Context) bool {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || !graphql.HasOperationContext(ctx) {
		return true
	}
	for _, f := range graphql.CollectFields(graphql.GetOperationContext(ctx), fc.Field.Selections, []string{"Order"}) {
		switch f.Name {
		case "receiver", "buyerIp", "buyerId":
			return true
		}
	}
	return false
}

// recordPersonalView audits an unmasked view of one order's personal data
// before it is shown: no entry, no data.
func (r *Resolver) recordPersonalView(ctx context.Context, k order.Key) error {
	return audit.Record(ctx, r.DB, audit.Entry{At: time.Now(), Actor: viewerName(ctx), Action: "personal_data.viewed",
		Subject: "order " + k.String(), Remote: audit.RemoteFrom(ctx)})
}

// scopedBacklogEvery bounds how often a scoped subscriber's counts are
// read from the orders.
const scopedBacklogEvery = time.Second

// mayRead refuses a queue the caller's role does not read.
func mayRead(ctx context.Context, queue string) error {
	if !slices.Contains(rules.Queues, queue) {
		return badInput("queue", "no queue "+queue)
	}
	if !caller(ctx).Role.MayRead(queue) {
		return &codedError{code: CodeForbidden, msg: "the " + caller(ctx).Role.String() + " role does not read the " + queue + " queue"}
	}
	return nil
}

// mayReadPersonal refuses a rule reading buyers' personal data from a
// caller who may not see it unmasked: its hits (backtest samples, tags,
// queues, alerts) would disclose the values it tests, digit by digit if
// need be. Saving a rule whose expressions are unchanged is allowed
// (saving is true): editing a default rule's severity discloses nothing
// new.
func (r *Resolver) mayReadPersonal(ctx context.Context, rule rules.Rule, saving bool) error {
	if seesPersonal(ctx, false) {
		return nil
	}
	if saving {
		if cur, err := r.RuleStore.Get(ctx, rule.Name); err == nil && cur.Rule.Expression == rule.Expression && cur.Rule.DueExpr == rule.DueExpr {
			return nil
		}
	}
	for _, f := range []struct{ field, text string }{{"expression", rule.Expression}, {"dueExpr", rule.DueExpr}} {
		names, err := rules.PersonalNames(f.text)
		if err != nil {
			return ruleError(err)
		}
		if len(names) > 0 {
			return &codedError{code: CodeForbidden, field: f.field,
				msg: "the " + caller(ctx).Role.String() + " role may not write rules that read personal data (" + strings.Join(names, ", ") + "); ask an admin"}
		}
	}
	return nil
}

// oneOrder holds the order an operation has shown unmasked to a caller who
// sees personal data one order at a time: asking for several orders under
// aliases in one operation shows the first (in the document) unmasked, the
// others masked.
type oneOrder struct {
	mu  sync.Mutex
	key order.Key
	set bool
}

type oneOrderKey struct{}

// WithOneOrder starts an operation's budget of one unmasked order (the
// server calls it around every operation).
func WithOneOrder(ctx context.Context) context.Context {
	return context.WithValue(ctx, oneOrderKey{}, &oneOrder{})
}

// takeOneOrder reports whether k may be shown unmasked in this operation.
func takeOneOrder(ctx context.Context, k order.Key) bool {
	b, _ := ctx.Value(oneOrderKey{}).(*oneOrder)
	if b == nil {
		return true
	}
	// Root fields resolve concurrently: the budget is the document's first
	// field of this name, not whichever resolves first.
	if !firstRootFieldOfItsName(ctx) {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.set {
		b.key, b.set = k, true
	}
	return b.key == k
}

// firstRootFieldOfItsName reports whether ctx's root field is the first of
// the operation's root fields with its name (true outside an operation).
func firstRootFieldOfItsName(ctx context.Context) bool {
	rf := graphql.GetRootFieldContext(ctx)
	if rf == nil || rf.Field.Field == nil || !graphql.HasOperationContext(ctx) {
		return true
	}
	op := graphql.GetOperationContext(ctx).Operation
	if op == nil {
		return true
	}
	for _, sel := range op.SelectionSet {
		if f, ok := sel.(*ast.Field); ok && f.Name == rf.Field.Name {
			return f.Alias == rf.Field.Alias
		}
	}
	return true
}
