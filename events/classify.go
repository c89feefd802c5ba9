package events

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// ErrTransient marks an error that will pass by itself: the handler is
// retried without limit and the message is never parked.
var ErrTransient = errors.New("transient")

// Class is how the router treats a handler's error.
type Class struct{ c string }

var (
	// Transient errors (an unreachable or overloaded database, a conflict
	// with another transaction, a shutdown) are retried with backoff for as
	// long as they last; the message is never parked.
	Transient = Class{"transient"}
	// Permanent errors (ErrPermanent, a payload that does not decode) park
	// the message at once: retrying it cannot help.
	Permanent = Class{"permanent"}
	// Unknown errors are retried a few times, then parked with the error.
	Unknown = Class{"unknown"}
)

func (c Class) String() string { return c.c }

// transientStates are the SQLSTATEs a healthy server clears by itself: a
// moment later the same statement succeeds.
var transientStates = map[string]bool{
	"40001": true, // serialization_failure
	"40P01": true, // deadlock_detected
	"40003": true, // statement_completion_unknown
	"55P03": true, // lock_not_available (lock_timeout)
	"57014": true, // query_canceled (statement_timeout)
	"57P01": true, // admin_shutdown
	"57P02": true, // crash_shutdown
	"57P03": true, // cannot_connect_now (starting up, recovering)
	"57P05": true, // idle_session_timeout
	"25P03": true, // idle_in_transaction_session_timeout
	"25006": true, // read_only_sql_transaction (failover: still on the old primary, now a standby)
	"58000": true, // system_error
	"58030": true, // io_error
}

// transientClasses are the SQLSTATE classes (first two characters) that are
// transient whatever the code within.
var transientClasses = map[string]bool{
	"08": true, // connection_exception
	"53": true, // insufficient_resources (too_many_connections, disk_full, out_of_memory)
}

// Classify decides what retrying can do about a handler's error. It is the
// one place the router's policy is decided; see Transient, Permanent and
// Unknown.
func Classify(err error) Class {
	var (
		pgErr   *pgconn.PgError
		syntax  *json.SyntaxError
		typeErr *json.UnmarshalTypeError
		connErr *pgconn.ConnectError
		netErr  net.Error
	)
	switch {
	case err == nil:
		return Unknown
	// Marks first: a handler says what it knows.
	case errors.Is(err, ErrPermanent):
		return Permanent
	case errors.Is(err, ErrTransient):
		return Transient
	case errors.As(err, &syntax), errors.As(err, &typeErr):
		// A payload that does not decode never will.
		return Permanent
	case errors.As(err, &pgErr):
		// Constraint violations, bad data, missing objects: maybe a
		// bug fixed later, so Unknown (a few retries, then parked).
		if transientStates[pgErr.Code] || (len(pgErr.Code) == 5 && transientClasses[pgErr.Code[:2]]) {
			return Transient
		}
		return Unknown
	// A cancelled or expired context is a shutdown or the bus's ack
	// deadline: the message is redelivered, not parked.
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return Transient
	case errors.As(err, &connErr), pgconn.Timeout(err), pgconn.SafeToRetry(err):
		return Transient
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone):
		return Transient
	// The connection dropped under a statement (a restart, a proxy).
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return Transient
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return Transient
	case errors.As(err, &netErr):
		return Transient
	}
	return Unknown
}
