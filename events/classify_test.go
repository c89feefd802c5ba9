package events_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/towerhq/tower/events"
)

func TestClassify(t *testing.T) {
	pg := func(code string) error {
		return &pgconn.PgError{Severity: "ERROR", Code: code, Message: "from the server"}
	}
	wrap := func(err error) error { return fmt.Errorf("project batch 1f3a (3 events): store twins: %w", err) }
	var syntaxErr *json.SyntaxError
	if err := json.Unmarshal([]byte(`{"events": [`), new(events.OrderEventsBatch)); !errors.As(err, &syntaxErr) {
		t.Fatalf("want a *json.SyntaxError, got %T", err)
	}
	typeErr := json.Unmarshal([]byte(`{"events": "not a list"}`), new(events.OrderEventsBatch))

	cases := []struct {
		name string
		err  error
		want events.Class
	}{
		// Marked by the handler.
		{"ErrPermanent", fmt.Errorf("%w: decode order_events_v1 message 1f3a: bad", events.ErrPermanent), events.Permanent},
		{"ErrTransient", fmt.Errorf("%w: record parking: boom", events.ErrTransient), events.Transient},
		{"ErrPermanent wins over a transient cause", fmt.Errorf("%w: %w", events.ErrPermanent, pg("40001")), events.Permanent},
		// Payloads that will never decode.
		{"json syntax", wrap(syntaxErr), events.Permanent},
		{"json type", wrap(typeErr), events.Permanent},
		// The database clears these by itself.
		{"serialization failure 40001", wrap(pg("40001")), events.Transient},
		{"deadlock 40P01", wrap(pg("40P01")), events.Transient},
		{"lock timeout 55P03", wrap(pg("55P03")), events.Transient},
		{"statement timeout 57014", wrap(pg("57014")), events.Transient},
		{"admin shutdown 57P01", wrap(pg("57P01")), events.Transient},
		{"crash shutdown 57P02", wrap(pg("57P02")), events.Transient},
		{"cannot connect now 57P03", wrap(pg("57P03")), events.Transient},
		{"too many connections 53300", wrap(pg("53300")), events.Transient},
		{"out of memory 53200", wrap(pg("53200")), events.Transient},
		{"connection failure 08006", wrap(pg("08006")), events.Transient},
		{"connection does not exist 08003", wrap(pg("08003")), events.Transient},
		{"read-only transaction 25006 (failover)", wrap(pg("25006")), events.Transient},
		{"idle in transaction timeout 25P03", wrap(pg("25P03")), events.Transient},
		{"io error 58030", wrap(pg("58030")), events.Transient},
		// Maybe a bug fixed later: a few retries, then parked.
		{"unique violation 23505", wrap(pg("23505")), events.Unknown},
		{"check violation 23514", wrap(pg("23514")), events.Unknown},
		{"invalid text 22P02", wrap(pg("22P02")), events.Unknown},
		{"undefined table 42P01", wrap(pg("42P01")), events.Unknown},
		{"raise exception P0001", wrap(pg("P0001")), events.Unknown},
		{"internal error XX000", wrap(pg("XX000")), events.Unknown},
		// The connection, not the statement.
		{"connection refused", wrap(&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}), events.Transient},
		{"connection reset", wrap(os.NewSyscallError("read", syscall.ECONNRESET)), events.Transient},
		{"unexpected EOF", wrap(io.ErrUnexpectedEOF), events.Transient},
		{"bad connection", wrap(driver.ErrBadConn), events.Transient},
		{"connection done", wrap(sql.ErrConnDone), events.Transient},
		// Shutdown, or the bus's ack deadline: redelivered, never parked.
		{"context canceled", wrap(context.Canceled), events.Transient},
		{"deadline exceeded", wrap(context.DeadlineExceeded), events.Transient},
		// Anything else.
		{"a plain error", errors.New("rule engine: no such field"), events.Unknown},
		{"a panic", errors.New("panic occurred: runtime error: index out of range"), events.Unknown},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := events.Classify(tc.err); got != tc.want {
				t.Errorf("Classify(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// The errors a real outage produces, not hand-made ones: a server that
// refuses connections, one that ends ours, one that is too slow.
func TestClassifyRealErrors(t *testing.T) {
	ctx := ctxT(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close() // nothing listens there now

	cases := []struct {
		name string
		err  func(t *testing.T) error
		code string // the SQLSTATE expected, if any
	}{
		{"connection refused", func(t *testing.T) error {
			cfg, err := pgconn.ParseConfig("postgres://tower@" + closed + "/tower?connect_timeout=5")
			if err != nil {
				t.Fatal(err)
			}
			_, err = pgconn.ConnectConfig(ctx, cfg)
			return err
		}, ""},
		{"connection terminated by the server (57P01)", func(t *testing.T) error {
			conn, err := testDB.DB.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			var pid int
			if err := conn.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
				t.Fatal(err)
			}
			if _, err := testDB.DB.ExecContext(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
				t.Fatal(err)
			}
			_, err = conn.ExecContext(ctx, `SELECT 1`)
			return err
		}, ""},
		{"statement timeout (57014)", func(t *testing.T) error {
			tx, err := testDB.DB.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			if _, err := tx.ExecContext(ctx, `SET LOCAL statement_timeout = '10ms'`); err != nil {
				t.Fatal(err)
			}
			_, err = tx.ExecContext(ctx, `SELECT pg_sleep(1)`)
			return err
		}, "57014"},
		{"query cancelled by its context", func(t *testing.T) error {
			ctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
			defer cancel()
			_, err := testDB.DB.ExecContext(ctx, `SELECT pg_sleep(1)`)
			return err
		}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err(t)
			if err == nil {
				t.Fatal("no error")
			}
			var pgErr *pgconn.PgError
			if tc.code != "" && (!errors.As(err, &pgErr) || pgErr.Code != tc.code) {
				t.Errorf("error %v (%T), want SQLSTATE %s", err, err, tc.code)
			}
			if got := events.Classify(fmt.Errorf("handler: %w", err)); got != events.Transient {
				t.Errorf("Classify(%v (%T)) = %v, want transient", err, err, got)
			}
		})
	}
}
