package resolvers

import (
	"context"
	"errors"
	"log/slog"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/towerhq/tower/graph/directives"
)

// Error codes carried in extensions.code; the SPA translates them.
const (
	CodeUnauthenticated = "UNAUTHENTICATED"
	CodeForbidden       = "FORBIDDEN"
	CodeNotFound        = "NOT_FOUND"
	CodeBadUserInput    = "BAD_USER_INPUT"
	CodeConflict        = "CONFLICT"
	CodeBusy            = "BUSY"
	CodeInternal        = "INTERNAL"
)

// codedError is an error meant for the client.
type codedError struct {
	code, msg, field string
	// line and column locate a rule expression's compile error (1-based).
	line, column int
}

func (e *codedError) Error() string { return e.msg }

func badInput(field, msg string) error {
	return &codedError{code: CodeBadUserInput, msg: msg, field: field}
}

// PresentError gives every error a code; anything not meant for the client
// becomes INTERNAL with its message hidden (and logged).
func PresentError(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gerr := graphql.DefaultErrorPresenter(ctx, err)
		var ce *codedError
		var de *directives.Error
		switch {
		case errors.As(err, &de):
			gerr.Message = de.Msg
			gerr.Extensions = map[string]any{"code": de.Code}
			if de.Policy != "" {
				gerr.Extensions["policy"] = de.Policy
			}
		case errors.As(err, &ce):
			gerr.Message = ce.msg
			gerr.Extensions = map[string]any{"code": ce.code}
			if ce.field != "" {
				gerr.Extensions["field"] = ce.field
			}
			if ce.line > 0 {
				gerr.Extensions["line"], gerr.Extensions["column"] = ce.line, ce.column
			}
		case gerr.Extensions != nil && gerr.Extensions["code"] != nil:
			// Parser and validation errors already carry a code.
		case isGQLError(err):
			if gerr.Extensions == nil {
				gerr.Extensions = map[string]any{}
			}
			gerr.Extensions["code"] = CodeBadUserInput
		default:
			log.ErrorContext(ctx, "graphql resolver failed", "path", gerr.Path.String(), "err", err)
			gerr.Message = "internal error"
			gerr.Extensions = map[string]any{"code": CodeInternal}
		}
		return gerr
	}
}

func isGQLError(err error) bool {
	var g *gqlerror.Error
	return errors.As(err, &g) && errors.Unwrap(g) == nil
}
