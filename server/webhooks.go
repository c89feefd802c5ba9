package server

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/towerhq/tower/internal/ingest"
	"github.com/towerhq/tower/internal/metrics"
	"github.com/towerhq/tower/internal/platforms"
	"github.com/towerhq/tower/internal/platforms/wire"
)

// webhooks serves POST /webhooks/{source}: verify, parse, store with group
// commit, and only then answer 2xx. Every delivery, refused or not, is
// audited in webhook_deliveries.
type webhooks struct {
	sources   map[string]platforms.Source
	committer Submitter
	// audit stores refused deliveries, apart from the accepted ones so
	// that anonymous traffic never waits in (or fails) their commits.
	audit    Submitter
	refusals *Refusals
	maxBody  int64
	m        *metrics.Metrics
	log      *slog.Logger
	now      func() time.Time
}

func (h *webhooks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("source")
	src, ok := h.sources[name]
	if !ok {
		h.m.Webhooks.WithLabelValues("unknown", "unknown_source", "404").Inc()
		writeJSONError(w, http.StatusNotFound, "UNKNOWN_SOURCE", "no ingest source named "+strconv.Quote(name))
		return
	}
	// Real time, whatever a simulated clock says: this is the connector's latency.
	start := time.Now()
	defer func() { h.m.WebhookSeconds.WithLabelValues(name).Observe(time.Since(start).Seconds()) }()
	d := &ingest.Delivery{Source: name, ReceivedAt: h.now(), Headers: auditHeaders(r.Header)}
	if r.URL.RawQuery != "" {
		// Some platforms sign the query: keep it with the delivery.
		d.Headers[":query"] = r.URL.RawQuery
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	d.Body = body
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		if di, ok := src.(platforms.DeliveryIdentifier); ok {
			d.DeliveryID = wire.Truncate(di.DeliveryID(&platforms.Request{Header: r.Header}), 200)
		}
		h.refuse(w, r, src, d, nil, ingest.OutcomeTooLarge, http.StatusRequestEntityTooLarge, err)
		return
	case err != nil:
		// The client went away mid-body: nothing to answer, nothing stored.
		h.log.Warn("webhook body read failed", "source", name, "err", err)
		h.m.Webhooks.WithLabelValues(name, "read_error", "400").Inc()
		return
	}
	req := &platforms.Request{Header: r.Header, Query: r.URL.Query(), Body: body, ReceivedAt: d.ReceivedAt}
	if di, ok := src.(platforms.DeliveryIdentifier); ok {
		d.DeliveryID = wire.Truncate(di.DeliveryID(req), 200)
	}
	if err := src.Verify(req); err != nil {
		h.refuse(w, r, src, d, req, ingest.OutcomeBadSignature, http.StatusUnauthorized, err)
		return
	}
	d.Verified = true
	parsed, err := src.Parse(req)
	if err != nil {
		h.refuse(w, r, src, d, req, ingest.OutcomeMalformed, http.StatusBadRequest, err)
		return
	}
	d.DeliveryID, d.Events, d.Flagged, d.Sanitized = wire.Truncate(parsed.ID, 200), parsed.Events, parsed.Flagged, parsed.Sanitized
	if len(parsed.Flagged) > 0 {
		h.m.ItemsFlagged.WithLabelValues(name).Add(float64(len(parsed.Flagged)))
		h.log.Warn("webhook items stored but not mapped", "source", name, "delivery_id", d.DeliveryID,
			"flagged", len(parsed.Flagged), "first_reason", parsed.Flagged[0].Reason)
	}
	res, err := h.committer.Submit(r.Context(), d)
	if errors.Is(err, ingest.ErrUnstorable) {
		// Stored for audit with its raw body, but PostgreSQL refuses its
		// events (e.g. an order number past the index limit): retrying the
		// same bytes cannot help.
		h.log.Error("webhook unstorable", "source", name, "delivery_id", d.DeliveryID, "err", err)
		h.m.Webhooks.WithLabelValues(name, ingest.OutcomeUnstorable, strconv.Itoa(ingest.StatusUnstorable)).Inc()
		src.Respond(w, platforms.Outcome{Status: ingest.StatusUnstorable, Err: err, Request: req})
		return
	}
	if err != nil && r.Context().Err() != nil {
		// The sender hung up while its delivery waited: it may still be
		// committed, and the sender's retry is then a duplicate.
		h.log.Warn("webhook sender went away before its commit", "source", name, "delivery_id", d.DeliveryID)
		h.m.Webhooks.WithLabelValues(name, "client_gone", "499").Inc()
		return
	}
	if err != nil {
		h.log.Error("webhook not stored", "source", name, "delivery_id", d.DeliveryID, "err", err)
		h.m.Webhooks.WithLabelValues(name, "unavailable", "503").Inc()
		w.Header().Set("Retry-After", "1")
		src.Respond(w, platforms.Outcome{Status: http.StatusServiceUnavailable, Err: errors.New("not stored; retry"), Request: req})
		return
	}
	h.m.Webhooks.WithLabelValues(name, res.Outcome, "200").Inc()
	src.Respond(w, platforms.Outcome{Status: http.StatusOK, Accepted: res.Accepted, Duplicates: res.Duplicates, Request: req})
}

// refuse audits a refused delivery, then answers with its status.
func (h *webhooks) refuse(w http.ResponseWriter, r *http.Request, src platforms.Source, d *ingest.Delivery, req *platforms.Request, outcome string, status int, cause error) {
	d.Outcome, d.Status, d.Err = outcome, status, cause
	h.m.Webhooks.WithLabelValues(d.Source, outcome, strconv.Itoa(status)).Inc()
	if !h.refusals.allow(d.Source, remoteHost(r.RemoteAddr)) {
		// Over the source's audit rate: answer, count, store nothing.
		h.m.RefusedUnaudited.WithLabelValues(d.Source).Inc()
		src.Respond(w, platforms.Outcome{Status: status, Err: cause, Request: req})
		return
	}
	h.log.Warn("webhook refused", "source", d.Source, "outcome", outcome, "status", status, "err", cause, "remote", r.RemoteAddr)
	if !d.Verified {
		trimUnverified(d)
	}
	if _, err := h.audit.Submit(r.Context(), d); err != nil {
		h.log.Error("refused webhook not audited", "source", d.Source, "err", err)
	}
	src.Respond(w, platforms.Outcome{Status: status, Err: cause, Request: req})
}

// auditHeaders keeps what matters to audit and replay a delivery, and never
// credentials.
func auditHeaders(h http.Header) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		switch strings.ToLower(k) {
		case "authorization", "cookie", "proxy-authorization":
			continue
		}
		out[strings.ToLower(k)] = strings.Join(v, ", ")
	}
	return out
}

func writeJSONError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, `{"error":{"code":"`+code+`","message":`+strconv.Quote(msg)+`}}`)
}
