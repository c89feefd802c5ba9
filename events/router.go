package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/towerhq/tower/internal/metrics"
)

// ErrPermanent marks an error retrying cannot fix: the message goes to the
// poison queue at once.
var ErrPermanent = errors.New("permanent")

// NewRouter builds a router whose handlers are retried with backoff, then
// parked on the poison queue with the error in metadata; panics become
// errors. Nothing is silently dropped.
func NewRouter(bus Bus, m *metrics.Metrics, log *slog.Logger) (*message.Router, error) {
	r, err := message.NewRouter(message.RouterConfig{CloseTimeout: 30 * time.Second}, bus.Logger())
	if err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	poison, err := middleware.PoisonQueue(bus.Publisher(), TopicPoison)
	if err != nil {
		return nil, fmt.Errorf("router: poison queue: %w", err)
	}
	retry := middleware.Retry{
		MaxRetries:      5,
		InitialInterval: 50 * time.Millisecond,
		MaxInterval:     2 * time.Second,
		Multiplier:      2,
		ShouldRetry: func(p middleware.RetryParams) bool {
			return !errors.Is(p.Err, ErrPermanent)
		},
	}
	r.AddMiddleware(
		observe(m, log, true),
		poison,
		retry.Middleware,
		observe(m, log, false),
		middleware.Recoverer,
	)
	return r, nil
}

// observe counts outcomes. The outer instance sees the final result (after
// retries and the poison queue); the inner one sees every attempt.
func observe(m *metrics.Metrics, log *slog.Logger, outer bool) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			name := message.HandlerNameFromCtx(msg.Context())
			out, err := h(msg)
			switch {
			case !outer && err != nil:
				m.HandlerFailures.WithLabelValues(name).Inc()
			case outer && err == nil && msg.Metadata.Get(middleware.ReasonForPoisonedKey) != "":
				m.Poisoned.WithLabelValues(name).Inc()
				log.Error("message parked on the poison queue", "handler", name, "message_uuid", msg.UUID,
					"topic", TopicPoison, "reason", msg.Metadata.Get(middleware.ReasonForPoisonedKey))
			case outer && err == nil:
				m.HandlerMessages.WithLabelValues(name).Inc()
				if at := PublishedAt(msg); !at.IsZero() {
					m.HandlerLag.WithLabelValues(name).Observe(time.Since(at).Seconds())
				}
			}
			return out, err
		}
	}
}

// RunRouter runs r until ctx ends, then closes it, waiting for in-flight handlers.
func RunRouter(ctx context.Context, r *message.Router) error {
	if err := r.Run(ctx); err != nil {
		return fmt.Errorf("router: %w", err)
	}
	return nil
}
