package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/towerhq/tower/internal/metrics"
)

// ErrPermanent marks an error retrying cannot fix: the message goes to the
// poison queue at once.
var ErrPermanent = errors.New("permanent")

// MetaAttempts is the metadata key of a parked message holding how many
// times its handler ran, beside Watermill's middleware.ReasonForPoisonedKey
// and the like.
const MetaAttempts = "attempts"

// RetryPolicy is how a failing handler is retried (see Classify).
type RetryPolicy struct {
	// Initial and Max bound the exponential backoff between attempts.
	Initial, Max time.Duration
	// Unknown is how many retries an error of class Unknown gets before the
	// message is parked. Transient errors are retried for as long as they
	// last; Permanent ones not at all.
	Unknown int
}

// DefaultRetry is the production policy.
var DefaultRetry = RetryPolicy{Initial: 50 * time.Millisecond, Max: 2 * time.Second, Unknown: 5}

// RouterOption changes what NewRouter builds.
type RouterOption func(*routerConfig)

type routerConfig struct{ retry RetryPolicy }

// WithRetry replaces DefaultRetry (tests use short intervals).
func WithRetry(p RetryPolicy) RouterOption { return func(c *routerConfig) { c.retry = p } }

// NewRouter builds a router whose handlers are retried with backoff as
// Classify says, then parked on the poison queue with the error and the
// attempts made in metadata; panics become errors. Nothing is silently
// dropped: a transient failure that outlasts a delivery (the bus's ack
// deadline, a shutdown) is nacked and delivered again, never parked.
func NewRouter(bus Bus, m *metrics.Metrics, log *slog.Logger, opts ...RouterOption) (*message.Router, error) {
	cfg := routerConfig{retry: DefaultRetry}
	for _, o := range opts {
		o(&cfg)
	}
	r, err := message.NewRouter(message.RouterConfig{CloseTimeout: 30 * time.Second}, bus.Logger())
	if err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	poison, err := middleware.PoisonQueueWithFilter(parkingPublisher{bus.Publisher()}, TopicPoison, func(err error) bool {
		return Classify(err) != Transient
	})
	if err != nil {
		return nil, fmt.Errorf("router: poison queue: %w", err)
	}
	r.AddMiddleware(
		observe(m, log, true),
		poison,
		unacked,
		cfg.retry.middleware(log),
		observe(m, log, false),
		middleware.Recoverer,
	)
	return r, nil
}

// unacked parks a message the broker gave up waiting for too often (its
// handler outlasted the ack deadline, or its node died, every time)
// instead of running it once more.
func unacked(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		if n := msg.Metadata.Get(MetaUnackedDeliveries); n != "" {
			return nil, fmt.Errorf("%w: delivered %s times without an acknowledgement (handler timed out or its node died each time)", ErrPermanent, n)
		}
		return h(msg)
	}
}

// middleware retries with Watermill's Retry, deciding per message: the
// budget for Unknown errors counts only those, so a message that waited
// out a database outage still gets its few retries afterwards.
func (p RetryPolicy) middleware(log *slog.Logger) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			unknown := 0
			r := middleware.Retry{
				MaxRetries:      1 << 30, // ShouldRetry decides
				InitialInterval: p.Initial,
				MaxInterval:     p.Max,
				Multiplier:      2,
				ShouldRetry: func(rp middleware.RetryParams) bool {
					switch Classify(rp.Err) {
					case Permanent:
						return false
					case Transient:
						if rp.RetryNum%10 == 0 {
							log.Warn("handler failed transiently; retrying until it passes", "handler", message.HandlerNameFromCtx(msg.Context()),
								"message_uuid", msg.UUID, "retry", rp.RetryNum, "err", rp.Err)
						}
						return true
					}
					unknown++
					return unknown <= p.Unknown
				},
			}
			return r.Middleware(h)(msg)
		}
	}
}

// delivery is what the middleware learns about one delivery of a message,
// carried in its context: the poison queue publisher stamps the attempts
// and reports the parking back to the outer observer.
type delivery struct {
	attempts int
	parked   bool
}

type deliveryKey struct{}

func deliveryOf(ctx context.Context) *delivery {
	d, _ := ctx.Value(deliveryKey{}).(*delivery)
	return d
}

// parkingPublisher publishes to the poison queue, stamping the attempts
// made. The metadata the poison middleware sets on the message survives a
// failed publish (the message is nacked and its copy redelivered), so only
// a successful publish marks the delivery parked.
type parkingPublisher struct{ message.Publisher }

func (p parkingPublisher) Publish(topic string, msgs ...*message.Message) error {
	for _, m := range msgs {
		delete(m.Metadata, MetaAttempts)
		if d := deliveryOf(m.Context()); d != nil && d.attempts > 0 {
			m.Metadata.Set(MetaAttempts, strconv.Itoa(d.attempts))
		}
	}
	if err := p.Publisher.Publish(topic, msgs...); err != nil {
		return err
	}
	for _, m := range msgs {
		if d := deliveryOf(m.Context()); d != nil {
			d.parked = true
		}
	}
	return nil
}

// observe counts outcomes. The outer instance sees the final result (after
// retries and the poison queue); the inner one sees every attempt.
func observe(m *metrics.Metrics, log *slog.Logger, outer bool) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			name := message.HandlerNameFromCtx(msg.Context())
			d := deliveryOf(msg.Context())
			if outer {
				d = &delivery{}
				msg.SetContext(context.WithValue(msg.Context(), deliveryKey{}, d))
			} else if d != nil {
				d.attempts++
			}
			out, err := h(msg)
			switch {
			case !outer && err != nil:
				m.HandlerFailures.WithLabelValues(name).Inc()
			case outer && err == nil && d.parked:
				topic := originTopic(msg)
				m.Poisoned.WithLabelValues(name).Inc()
				m.PoisonParked.WithLabelValues(topic).Inc()
				log.Error("message parked on the poison queue", "handler", name, "message_uuid", msg.UUID,
					"topic", topic, "attempts", d.attempts, "reason", msg.Metadata.Get(middleware.ReasonForPoisonedKey))
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

// originTopic is the topic a message was first published on: a retried
// message travels on TopicRedrive.
func originTopic(msg *message.Message) string {
	if t := msg.Metadata.Get(MetaOriginTopic); t != "" {
		return t
	}
	return message.SubscribeTopicFromCtx(msg.Context())
}

// RunRouter runs r until ctx ends, then closes it, waiting for in-flight handlers.
func RunRouter(ctx context.Context, r *message.Router) error {
	if err := r.Run(ctx); err != nil {
		return fmt.Errorf("router: %w", err)
	}
	return nil
}
