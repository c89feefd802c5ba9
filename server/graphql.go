package server

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/towerhq/tower/graph/generated"
	"github.com/towerhq/tower/graph/resolvers"
	"github.com/towerhq/tower/internal/metrics"
	"github.com/towerhq/tower/server/wsgorilla"
)

// newGraphQL serves /graphql over HTTP POST/GET and websockets
// (graphql-transport-ws and graphql-ws), with keep-alive.
func newGraphQL(res *resolvers.Resolver, allowedOrigins []string, keepAlive time.Duration, m *metrics.Metrics, log *slog.Logger) http.Handler {
	srv := handler.New(generated.NewExecutableSchema(generated.Config{Resolvers: res}))
	srv.AddTransport(transport.Websocket{
		Implementation: wsgorilla.New(originChecker(allowedOrigins)),
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
	srv.Use(extension.FixedComplexityLimit(2000))
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
		return next(ctx)
	})
	return srv
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
