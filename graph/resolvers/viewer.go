package resolvers

import (
	"context"
	"errors"

	"github.com/towerhq/tower/domain/access"
	"github.com/towerhq/tower/graph/model"
	"github.com/towerhq/tower/internal/auth"
)

// caller is who is asking; @hasRole has made sure there is someone.
func caller(ctx context.Context) access.Principal {
	p, _ := access.FromContext(ctx)
	return p
}

// viewerName is who a change is recorded as.
func viewerName(ctx context.Context) string {
	if p, ok := access.FromContext(ctx); ok {
		return p.Actor()
	}
	return "anonymous"
}

// grant reads a role and scopes given to a new account or token.
func grant(role model.Role, scopes []string) (access.Role, access.Scopes, error) {
	ro, err := access.ParseRole(string(role))
	if err != nil {
		return ro, access.Scopes{}, badInput("role", err.Error())
	}
	sc, err := access.ParseScopes(scopes)
	if err != nil {
		return ro, sc, badInput("scopes", err.Error())
	}
	return ro, sc, nil
}

// authError gives account and token problems their codes.
func authError(err error) error {
	var ie *auth.InputError
	switch {
	case errors.As(err, &ie):
		return badInput(ie.Field, ie.Reason)
	case errors.Is(err, auth.ErrNotFound):
		return &codedError{code: CodeNotFound, msg: err.Error()}
	case errors.Is(err, auth.ErrExists):
		return &codedError{code: CodeConflict, msg: err.Error()}
	case errors.Is(err, auth.ErrLastAdmin):
		return &codedError{code: CodeConflict, msg: err.Error()}
	}
	return err
}

func userOf(u auth.User) *model.User {
	return &model.User{Name: u.Name, Role: model.Role(u.Role.String()), Scopes: nonNilStrings(u.Scopes.Strings()), Disabled: u.Disabled,
		Demo: u.Demo, LastLoginAt: u.LastLoginAt, CreatedAt: u.CreatedAt, CreatedBy: u.CreatedBy, TimeZone: u.TimeZone}
}

func tokenOf(t auth.Token) *model.APIToken {
	return &model.APIToken{Name: t.Name, Prefix: t.Prefix, Role: model.Role(t.Role.String()), Scopes: nonNilStrings(t.Scopes.Strings()),
		CreatedAt: t.CreatedAt, CreatedBy: t.CreatedBy, ExpiresAt: t.ExpiresAt, LastUsedAt: t.LastUsedAt, RevokedAt: t.RevokedAt}
}
