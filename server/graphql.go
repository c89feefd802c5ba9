package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/towerhq/tower/graph/cost"
	"github.com/towerhq/tower/graph/directives"
	"github.com/towerhq/tower/graph/generated"
	"github.com/towerhq/tower/graph/resolvers"
	"github.com/towerhq/tower/internal/audit"
	"github.com/towerhq/tower/internal/metrics"
	"github.com/towerhq/tower/server/wsgorilla"
)

// Limits of the GraphQL endpoint, per request and per connection.
const (
	// maxQueryBytes bounds a POST body: the SPA's largest document is a
	// few KiB.
	maxQueryBytes = 1 << 20
	// maxSubscriptions bounds the live operations of one websocket: a
	// browser tab holds a handful.
	maxSubscriptions = 50
)

// codeTooMany is the error code of a subscription over the cap.
const codeTooMany = "TOO_MANY_SUBSCRIPTIONS"

// newGraphQL serves /graphql over HTTP POST/GET and websockets
// (graphql-transport-ws and graphql-ws), with keep-alive. Each operation
// is priced (graph/cost) against a budget, bodies and subscriptions per
// connection are bounded.
func newGraphQL(res *resolvers.Resolver, allowedOrigins []string, keepAlive time.Duration, a *authn, m *metrics.Metrics, log *slog.Logger) http.Handler {
	srv := handler.New(generated.NewExecutableSchema(generated.Config{Resolvers: res, Complexity: cost.Complexity(), Directives: Directives(res, log)}))
	srv.AddTransport(transport.Websocket{
		InitFunc: func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
			ctx, ack, err := a.initSocket(ctx, p)
			if err != nil {
				return ctx, ack, err
			}
			return context.WithValue(ctx, subsKey{}, new(atomic.Int64)), ack, nil
		},
		CloseFunc:      a.closed,
		Implementation: closeCodes{wsgorilla.New(originChecker(allowedOrigins))},
		// graphql-ws clients get "ka" messages; graphql-transport-ws
		// clients get ping/pong, which also drops dead peers.
		KeepAlivePingInterval: keepAlive,
		PingPongInterval:      keepAlive,
		InitTimeout:           10 * time.Second,
	})
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.Use(extension.Introspection{})
	srv.Use(extension.FixedComplexityLimit(cost.Limit))
	srv.SetErrorPresenter(resolvers.PresentError(log))
	srv.SetRecoverFunc(func(ctx context.Context, err any) error {
		log.ErrorContext(ctx, "graphql panic", "panic", err)
		return errInternal
	})
	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		op := graphql.GetOperationContext(ctx)
		kind := "query"
		if op.Operation != nil {
			kind = string(op.Operation.Operation)
		}
		m.GraphQLRequests.WithLabelValues(kind, "started").Inc()
		ctx = resolvers.WithOneOrder(ctx)
		if kind == string(ast.Subscription) {
			return capSubscriptions(ctx, next)
		}
		return next(ctx)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > maxQueryBytes {
			http.Error(w, fmt.Sprintf("GraphQL request over %d bytes", maxQueryBytes), http.StatusRequestEntityTooLarge)
			return
		}
		if r.Method == http.MethodPost {
			// Read within the limit first, so an endless chunked body gets
			// its 413 too.
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxQueryBytes))
			var tooLarge *http.MaxBytesError
			switch {
			case errors.As(err, &tooLarge):
				http.Error(w, fmt.Sprintf("GraphQL request over %d bytes", maxQueryBytes), http.StatusRequestEntityTooLarge)
				return
			case err != nil:
				http.Error(w, "could not read the request body", http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		srv.ServeHTTP(w, r)
	})
}

// subsKey holds a websocket connection's count of live subscriptions.
type subsKey struct{}

// capSubscriptions refuses a subscription over maxSubscriptions on its
// connection and gives its place back when it ends.
func capSubscriptions(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	n, ok := ctx.Value(subsKey{}).(*atomic.Int64)
	if !ok {
		return next(ctx)
	}
	if n.Add(1) > maxSubscriptions {
		n.Add(-1)
		return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{{
			Message:    fmt.Sprintf("at most %d subscriptions per connection", maxSubscriptions),
			Extensions: map[string]any{"code": codeTooMany},
		}}})
	}
	h := next(ctx)
	var once sync.Once
	return func(ctx context.Context) *graphql.Response {
		r := h(ctx)
		if r == nil {
			once.Do(func() { n.Add(-1) })
		}
		return r
	}
}

// Directives implements the schema's directives: @hasRole checks the
// caller's role, @audit records successful mutations.
func Directives(res *resolvers.Resolver, log *slog.Logger) generated.DirectiveRoot {
	return generated.DirectiveRoot{
		HasRole: directives.HasRole,
		// Audit times are wall-clock times, whatever a simulated clock says.
		Audit: directives.Audit(func(ctx context.Context, e audit.Entry) error { return audit.Record(ctx, res.DB, e) }, time.Now, log),
	}
}

type internalError struct{}

func (internalError) Error() string { return "internal error" }

var errInternal error = internalError{}

// originChecker accepts same-host origins (the SPA) and configured ones;
// internal tools without an Origin header are accepted (they use tokens).
func originChecker(allowed []string) func(*http.Request) bool {
	return func(r *http.Request) bool {
		origin := r.Header.Get("Origin")
		if origin == "" {
			return true
		}
		if slices.Contains(allowed, origin) {
			return true
		}
		u, err := url.Parse(origin)
		return err == nil && u.Host == r.Host
	}
}
