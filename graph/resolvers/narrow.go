package resolvers

import (
	"slices"

	"github.com/towerhq/tower/domain/access"
)

// narrowScopes narrows a caller's scopes to one channel and/or warehouse
// asked for ("" for any). ok is false when the ask lies outside them:
// nothing can match, and the answer is empty rather than an error, as for
// any filter.
func narrowScopes(s access.Scopes, channel, warehouse string) (out access.Scopes, ok bool) {
	out = s
	if channel != "" {
		if len(s.Channels) > 0 && !slices.Contains(s.Channels, channel) {
			return s, false
		}
		out.Channels = []string{channel}
	}
	if warehouse != "" {
		if len(s.Warehouses) > 0 && !slices.Contains(s.Warehouses, warehouse) {
			return s, false
		}
		out.Warehouses = []string{warehouse}
	}
	return out, true
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
