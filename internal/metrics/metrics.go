// Package metrics holds Tower's Prometheus collectors, one registry per
// process (no globals), so tests can build as many servers as they like.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the collectors every component reports to.
type Metrics struct {
	Registry *prometheus.Registry

	Webhooks           *prometheus.CounterVec   // source, outcome, status
	WebhookSeconds     *prometheus.HistogramVec // source: received -> answered, seconds
	RefusedUnaudited   *prometheus.CounterVec   // source
	ItemsFlagged       *prometheus.CounterVec   // source: items stored but not mapped
	EventsParked       *prometheus.CounterVec   // ref kind: events waiting for their order
	IngestBatchEvents  prometheus.Histogram     // events per group commit
	IngestBatchDeliver prometheus.Histogram     // deliveries per group commit
	IngestCommit       prometheus.Histogram     // commit latency, seconds
	IngestQueue        prometheus.Gauge         // deliveries waiting for a commit
	EventsStored       *prometheus.CounterVec   // source
	EventsPublished    *prometheus.CounterVec   // topic
	HandlerLag         *prometheus.HistogramVec // handler: publish -> handled, seconds
	HandlerFailures    *prometheus.CounterVec   // handler
	HandlerMessages    *prometheus.CounterVec   // handler
	Poisoned           *prometheus.CounterVec   // handler
	PoisonParked       *prometheus.GaugeVec     // topic: messages parked now
	PoisonResolved     *prometheus.CounterVec   // topic, action (retried, discarded)
	Subscriptions      *prometheus.GaugeVec     // subscription field
	SubscriptionDrops  *prometheus.CounterVec   // field: pushes replaced by a newer state
	GraphQLRequests    *prometheus.CounterVec   // operation type, result
	ReconcileRuns      *prometheus.CounterVec   // source, result
	ReconcileRecovered *prometheus.CounterVec   // source: events found only by pulling
	AlertsRaised       *prometheus.CounterVec   // kind, severity
	DetectionLatency   prometheus.Histogram     // condition true -> alert raised, seconds (Tower's clock)
	DeadlineLag        prometheus.Histogram     // timer due -> fired, seconds
	DeadlinesDeferred  prometheus.Counter       // deadlines put back: their order was being written
	NotificationsSent  *prometheus.CounterVec   // channel, result
	NotifyLatency      prometheus.Histogram     // alert raised -> robot message sent, seconds

	Logins       *prometheus.CounterVec // result: ok, or why it failed
	AuthRefusals *prometheus.CounterVec // why: unauthenticated, csrf, forbidden_ws, revoked_ws
}

// New registers every collector on a fresh registry.
func New() *Metrics {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{
		Registry: r,
		Webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tower_webhooks_total", Help: "Webhook deliveries by source, outcome and HTTP status.",
		}, []string{"source", "outcome", "status"}),
		WebhookSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tower_webhook_seconds", Help: "Time from a webhook's arrival to its answer (the commit included), by source.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"source"}),
		RefusedUnaudited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tower_webhooks_refused_unaudited_total", Help: "Refused deliveries not audited because their source was over its audit rate, by source.",
		}, []string{"source"}),
		ItemsFlagged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tower_webhook_items_flagged_total", Help: "Delivery items stored but not mapped to an event (unknown tag, bad field), by source.",
		}, []string{"source"}),
		EventsParked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tower_events_parked_total", Help: "Events parked until their order is known, by how they find it (order_no, tracking_no).",
		}, []string{"ref"}),
		IngestBatchEvents: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "tower_ingest_batch_events", Help: "Events per ingest group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8),
		}),
		IngestBatchDeliver: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "tower_ingest_batch_deliveries", Help: "Webhook deliveries per ingest group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 11),
		}),
		IngestCommit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "tower_ingest_commit_seconds", Help: "Latency of one ingest group commit.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		IngestQueue: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tower_ingest_queue_deliveries", Help: "Deliveries waiting for the next group commit.",
		}),
		EventsStored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tower_events_stored_total", Help: "New canonical events committed, by source.",
		}, []string{"source"}),
		EventsPublished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tower_events_published_total", Help: "Bus messages published, by topic.",
		}, []string{"topic"}),
		HandlerLag: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tower_handler_lag_seconds", Help: "Time from publish to handled, by handler.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"handler"}),
		HandlerFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tower_handler_failures_total", Help: "Handler attempts that returned an error, by handler.",
		}, []string{"handler"}),
		HandlerMessages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tower_handler_messages_total", Help: "Messages handled successfully, by handler.",
		}, []string{"handler"}),
		Poisoned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tower_handler_poisoned_total", Help: "Messages parked on the poison queue after retries, by handler.",
		}, []string{"handler"}),
		PoisonParked: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tower_poison_parked_messages", Help: "Messages on the poison queue waiting to be retried or discarded, by the topic they came from.",
		}, []string{"topic"}),
		PoisonResolved: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tower_poison_resolved_total", Help: "Parked messages retried or discarded, by topic and action.",
		}, []string{"topic", "action"}),
		Subscriptions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tower_graphql_subscriptions_open", Help: "Open GraphQL subscriptions, by field.",
		}, []string{"field"}),
		SubscriptionDrops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tower_graphql_subscription_coalesced_total", Help: "Pushes replaced by a newer state because the client was slow, by field.",
		}, []string{"field"}),
		GraphQLRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tower_graphql_operations_total", Help: "GraphQL operations by type and result.",
		}, []string{"type", "result"}),
		ReconcileRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tower_reconcile_runs_total", Help: "Reconciliation pulls, by source and result (ok, error).",
		}, []string{"source", "result"}),
		ReconcileRecovered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tower_reconcile_recovered_events_total", Help: "Events Tower learnt only by pulling the channel (pushes lost), by source.",
		}, []string{"source"}),
		AlertsRaised: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tower_alerts_raised_total", Help: "Alerts raised, by kind and severity.",
		}, []string{"kind", "severity"}),
		DetectionLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "tower_detection_latency_seconds", Help: "From the moment an alert's condition became true to the alert being raised.",
			Buckets: prometheus.ExponentialBuckets(0.1, 2, 16),
		}),
		DeadlineLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "tower_deadline_timer_lag_seconds", Help: "From a deadline timer's due time to its firing.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
		DeadlinesDeferred: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tower_deadlines_deferred_total", Help: "Deadline timers put back for a moment because their order was being written.",
		}),
		NotificationsSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tower_notifications_total", Help: "Robot messages, by channel and result.",
		}, []string{"channel", "result"}),
		NotifyLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "tower_notification_latency_seconds", Help: "From an alert being raised to its robot message being sent.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 16),
		}),
	}
	r.MustRegister(m.Webhooks, m.WebhookSeconds, m.RefusedUnaudited, m.ItemsFlagged, m.EventsParked, m.IngestBatchEvents, m.IngestBatchDeliver, m.IngestCommit, m.IngestQueue,
		m.EventsStored, m.EventsPublished, m.HandlerLag, m.HandlerFailures, m.HandlerMessages, m.Poisoned, m.PoisonParked, m.PoisonResolved,
		m.Subscriptions, m.SubscriptionDrops, m.GraphQLRequests, m.ReconcileRuns, m.ReconcileRecovered,
		m.AlertsRaised, m.DetectionLatency, m.DeadlineLag, m.DeadlinesDeferred, m.NotificationsSent, m.NotifyLatency)
	m.Logins = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tower_logins_total", Help: "Login attempts by result (ok, wrong_password, unknown_user, disabled, account_locked, remote_throttled).",
	}, []string{"result"})
	m.AuthRefusals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tower_auth_refusals_total", Help: "API requests and websockets refused or closed for their credentials, by reason.",
	}, []string{"reason"})
	r.MustRegister(m.Logins, m.AuthRefusals)
	// Known label values start at zero so dashboards see them at once.
	for _, f := range []string{"orderUpdated", "backlogChanged"} {
		m.Subscriptions.WithLabelValues(f)
		m.SubscriptionDrops.WithLabelValues(f)
	}
	return m
}
