// Package access says who a caller is and what that allows, in plain Go:
// the six job roles, the channel and warehouse scopes an account may be
// limited to, and the row-level rules that go with them (which work queues
// a role works, who sees personal data). Which role may call which GraphQL
// field is declared once, in the schema (@hasRole); this package holds the
// rules that a field-level check cannot express.
package access

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Role is a job role. The set is closed: the zero Role is no role, and
// ParseRole is the only way to get one from text.
type Role struct{ name string }

// The roles, as the contract names them.
var (
	CEO       = Role{"ceo"}
	Ops       = Role{"ops"}
	Warehouse = Role{"warehouse"}
	CS        = Role{"cs"}
	IT        = Role{"it"}
	Admin     = Role{"admin"}
)

// Roles lists every role, in the order documentation shows them.
var Roles = []Role{CEO, Ops, Warehouse, CS, IT, Admin}

// ErrUnknownRole is returned by ParseRole.
var ErrUnknownRole = errors.New("unknown role")

// ParseRole reads a role name (ceo, ops, warehouse, cs, it, admin).
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if r.name == s {
			return r, nil
		}
	}
	return Role{}, fmt.Errorf("%w %q (want one of %s)", ErrUnknownRole, s, strings.Join(RoleNames(), ", "))
}

// RoleNames are the names of Roles.
func RoleNames() []string {
	out := make([]string, len(Roles))
	for i, r := range Roles {
		out[i] = r.name
	}
	return out
}

func (r Role) String() string { return r.name }
func (r Role) IsZero() bool   { return r.name == "" }

// PersonalData is how much of the buyers' personal data (receiver name,
// phone and street address, buyer IP and platform buyer ids) a role sees.
type PersonalData int

const (
	// Masked: every value masked (138****1234, 张*).
	Masked PersonalData = iota
	// OneOrder: unmasked only when asking for one order by its channel
	// and number, each such view audited; masked in lists and pushes.
	OneOrder
	// Unmasked everywhere.
	Unmasked
)

// PersonalData says what r sees of personal data: customer service needs
// one buyer's address and phone at a time to answer them, an administrator
// everything; the others work with masked values.
func (r Role) PersonalData() PersonalData {
	switch r {
	case CS:
		return OneOrder
	case Admin:
		return Unmasked
	}
	return Masked
}

// Work queues, as rules name them (rules.Queues).
const (
	QueueCustomerService   = "customer_service"
	QueueRiskReview        = "risk_review"
	QueueWarehouseHold     = "warehouse_hold"
	QueueLogisticsFollowUp = "logistics_follow_up"
)

// workers lists who works each queue besides ops and admin, who work all.
var workers = map[string][]Role{
	QueueCustomerService:   {CS},
	QueueRiskReview:        {},
	QueueWarehouseHold:     {Warehouse},
	QueueLogisticsFollowUp: {Warehouse, CS},
}

// MayWork reports whether r claims, annotates and resolves items of queue.
func (r Role) MayWork(queue string) bool {
	ws, known := workers[queue]
	if !known {
		return false
	}
	return r == Ops || r == Admin || slices.Contains(ws, r)
}

// MayRead reports whether r lists the items of queue: its workers, and the
// CEO, who reads everything.
func (r Role) MayRead(queue string) bool {
	return r.MayWork(queue) || (r == CEO && workers[queue] != nil)
}

// Queues are the work queues r may read, in a stable order.
func (r Role) Queues() []string {
	var out []string
	for _, q := range []string{QueueCustomerService, QueueRiskReview, QueueWarehouseHold, QueueLogisticsFollowUp} {
		if r.MayRead(q) {
			out = append(out, q)
		}
	}
	return out
}

// Scopes limit an account to channels and warehouses. Empty means
// unlimited; with both kinds set an order must match one of each.
type Scopes struct {
	Channels   []string
	Warehouses []string
}

// ErrBadScope is returned by ParseScopes.
var ErrBadScope = errors.New("bad scope")

// ParseScopes reads scopes written as channel=X and warehouse=Y.
func ParseScopes(ss []string) (Scopes, error) {
	var s Scopes
	for _, raw := range ss {
		kind, value, ok := strings.Cut(strings.TrimSpace(raw), "=")
		value = strings.TrimSpace(value)
		if !ok || value == "" || len(value) > 64 {
			return Scopes{}, fmt.Errorf("%w %q: want channel=NAME or warehouse=CODE", ErrBadScope, raw)
		}
		switch kind {
		case "channel":
			if !slices.Contains(s.Channels, value) {
				s.Channels = append(s.Channels, value)
			}
		case "warehouse":
			if !slices.Contains(s.Warehouses, value) {
				s.Warehouses = append(s.Warehouses, value)
			}
		default:
			return Scopes{}, fmt.Errorf("%w %q: want channel=NAME or warehouse=CODE", ErrBadScope, raw)
		}
	}
	slices.Sort(s.Channels)
	slices.Sort(s.Warehouses)
	return s, nil
}

// Strings writes s as ParseScopes reads it.
func (s Scopes) Strings() []string {
	out := make([]string, 0, len(s.Channels)+len(s.Warehouses))
	for _, c := range s.Channels {
		out = append(out, "channel="+c)
	}
	for _, w := range s.Warehouses {
		out = append(out, "warehouse="+w)
	}
	return out
}

// Unlimited reports whether s limits nothing.
func (s Scopes) Unlimited() bool { return len(s.Channels) == 0 && len(s.Warehouses) == 0 }

// Allows reports whether an order of channel, shipped from warehouse ("" if
// not known yet), is within s. An order without a warehouse is outside any
// warehouse scope: nobody has assigned it to one of the account's.
func (s Scopes) Allows(channel, warehouse string) bool {
	if len(s.Channels) > 0 && !slices.Contains(s.Channels, channel) {
		return false
	}
	if len(s.Warehouses) > 0 && !slices.Contains(s.Warehouses, warehouse) {
		return false
	}
	return true
}

// Covers reports whether a channel or warehouse name (a silence's or an
// alert's scope) lies within s.
func (s Scopes) Covers(scope string) bool {
	if s.Unlimited() {
		return true
	}
	return slices.Contains(s.Channels, scope) || slices.Contains(s.Warehouses, scope)
}

// Via says how a caller proved who it is.
type Via string

const (
	ViaSession Via = "session" // a person logged in through the SPA
	ViaToken   Via = "token"   // an API token of an internal tool
)

// Principal is an authenticated caller.
type Principal struct {
	// Name is the user's name, or the API token's.
	Name   string
	Role   Role
	Scopes Scopes
	Via    Via
	// CredentialID is the session's or the token's row id: what revocation
	// names. UserID is set for sessions.
	CredentialID int64
	UserID       int64
}

// Actor is how the audit log and "changed by" columns name p: users by
// name, tokens as token:NAME, so the two never read alike.
func (p Principal) Actor() string {
	if p.Via == ViaToken {
		return "token:" + p.Name
	}
	return p.Name
}

type principalKey struct{}

// WithPrincipal attaches p to ctx (the server does, once it has
// authenticated the request or the websocket).
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the caller attached by WithPrincipal.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok && !p.Role.IsZero()
}
