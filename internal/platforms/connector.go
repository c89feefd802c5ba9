// Package platforms defines what an ingest source type does: verify a
// platform's request exactly as the platform signs it, parse it into
// canonical order events, and answer the way the platform expects; and
// what each platform tells the rest of Tower about itself (Platform): its
// configuration section and what can be built from it. Each platform lives
// in its own package (platforms/douyin, ...), listed once in
// platforms/registry.
package platforms

import (
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/towerhq/tower/domain/order"
)

// Request is one inbound delivery as received.
type Request struct {
	Header http.Header
	// Query is the URL's query: some platforms (TOP, Qimen) sign it.
	Query      url.Values
	Body       []byte
	ReceivedAt time.Time
}

// Delivery is what a verified request carried.
type Delivery struct {
	// ID is the platform's delivery id (Standard Webhooks' webhook-id);
	// a repeat with the same ID has no second effect. May be empty.
	ID string
	// Events are the canonical events, Source already set. Platform
	// messages may leave the order to be resolved later (see
	// order.Event.ValidateRef).
	Events []order.Event
	// Flagged are items of the delivery that were understood as far as
	// their id but could not be mapped (unknown tag, bad field). They are
	// stored with the delivery and counted, never dropped, and never fail
	// the rest of the batch.
	Flagged []Flag
	// Sanitized says text was replaced (U+FFFD) before the body could be
	// parsed at all: a platform cannot change what it sends, so a body
	// that is not UTF-8, or XML with characters XML forbids, is read as
	// far as it goes rather than refused. The raw body is kept.
	Sanitized bool
}

// Flag is one item of a delivery that was stored but not mapped.
type Flag struct {
	// ItemID is the platform's id for the item (msg_id ...), if any.
	ItemID string `json:"itemId,omitempty"`
	// Reason says why, e.g. `unknown tag "999"`.
	Reason string `json:"reason"`
}

// Source is one configured ingest source.
type Source interface {
	Name() string
	Type() string
	// Verify authenticates the request; errors wrap ErrUnauthorized.
	Verify(r *Request) error
	// Parse turns a verified request into canonical events; errors wrap
	// ErrMalformed and, where one field is at fault, an *order.FieldError.
	Parse(r *Request) (*Delivery, error)
	// Respond writes the answer the platform expects for an outcome.
	Respond(w http.ResponseWriter, o Outcome)
}

// Outcome is what became of a delivery, for Respond.
type Outcome struct {
	// Status is the HTTP status Tower means: 200 accepted (or duplicate),
	// 400 malformed, 401 unauthorized, 413 too large, 503 not stored.
	Status int
	// Err explains a failure, nil on success.
	Err error
	// Accepted counts new events stored; Duplicates counts repeats.
	Accepted, Duplicates int
	// Request is the request answered, for platforms whose answer format
	// depends on it (Qimen answers XML or JSON as it was asked). May be nil.
	Request *Request
}

var (
	ErrUnauthorized = errors.New("unauthorized")
	ErrMalformed    = errors.New("malformed")
)

// DeliveryIdentifier is implemented by sources whose requests carry a
// delivery id readable before verification, so refused deliveries can be
// audited under it too.
type DeliveryIdentifier interface {
	DeliveryID(r *Request) string
}
