// Package wsgorilla plugs github.com/gorilla/websocket into gqlgen's websocket
// transport.
//
// gqlgen (v0.17.98) accepts websocket connections through
// transport.WebsocketImplementation and ships only an adapter for
// github.com/coder/websocket. Implementation is the gorilla counterpart of
// transport.CoderWebsocketImplementation and keeps its semantics:
//
//   - the subprotocols gqlgen asks for (graphql-transport-ws, graphql-ws) are
//     merged with the Upgrader's own, and the ResponseHeader is sent with the
//     101 response;
//   - NextReader returns the whole next message and reports a normal close
//     by the peer (1000, or a close frame without status, 1005) as
//     transport.ErrWebsocketClosed, so the transport doesn't report it as an
//     error; any other close code (1001 going away included) is returned as the
//     *websocket.CloseError, as the coder adapter does;
//   - WriteClose starts the closing handshake in the background (close frame,
//     then a bounded wait for the peer's close frame) and owns closing the
//     connection from then on, so the transport's teardown never stalls on a
//     slow peer and a following Close does not cut the close frame off;
//   - the connection implements transport.WebsocketReadLimiter (PayloadReadLimit)
//     and transport.WebsocketReadDeadliner (PingPongInterval pong timeouts).
//
// Gorilla allows one concurrent writer; every write of the adapter (data
// messages and the close frame) is serialised by the connection, so WriteJSON
// is safe for concurrent use. The transport's keep-alives ("ka") and
// graphql-transport-ws pings are ordinary JSON messages sent with WriteJSON;
// websocket control pings from the peer are answered by gorilla itself.
//
// Where it differs from the coder adapter, on purpose:
//
//   - a data write gets a deadline (Implementation.WriteTimeout, 10s by
//     default), so a peer that stops reading cannot hold the transport forever;
//   - WriteJSON after the connection started closing drops the message and
//     returns nil, instead of an error the transport would report for every
//     subscription it completes while closing;
//   - a read deadline is gorilla's own: a missing pong makes the read fail
//     with a timeout, which the transport reports before closing with 1000,
//     where the coder adapter drops the TCP connection (the client sees 1006);
//   - a close reason longer than a close frame holds (123 bytes) is cut.
package wsgorilla

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"
)

const (
	// DefaultWriteTimeout bounds each message write when
	// Implementation.WriteTimeout is zero.
	DefaultWriteTimeout = 10 * time.Second
	// DefaultCloseTimeout bounds the closing handshake when
	// Implementation.CloseTimeout is zero. It matches the 5 seconds that
	// coder/websocket waits for the peer's close frame.
	DefaultCloseTimeout = 5 * time.Second

	// maxCloseReason is the longest close reason that fits in a control frame
	// (125 bytes of payload minus the 2-byte status code).
	maxCloseReason = 123
)

// Implementation accepts gqlgen websocket connections with gorilla/websocket.
// The zero value is usable: it applies gorilla's defaults, including the
// same-origin check when Upgrader.CheckOrigin is nil.
//
//	transport.Websocket{Implementation: wsgorilla.New(checkOrigin)}
type Implementation struct {
	// Upgrader is copied for every connection. Its Subprotocols come first
	// (the client's order of preference decides, as in gorilla), gqlgen's are
	// added after them.
	Upgrader websocket.Upgrader

	// WriteTimeout bounds each data message write (WriteJSON), so a peer that
	// stops reading cannot block the transport forever. Zero means
	// DefaultWriteTimeout; a negative value disables the deadline (the coder
	// adapter's behaviour). After a timed-out write gorilla fails every later
	// write on the connection.
	WriteTimeout time.Duration

	// CloseTimeout bounds the closing handshake started by WriteClose: writing
	// the close frame and waiting for the peer's. Zero means
	// DefaultCloseTimeout.
	CloseTimeout time.Duration
}

// New returns an Implementation whose upgrader admits a request when
// checkOrigin returns true. A nil checkOrigin keeps gorilla's default, which
// rejects a cross-origin request (an Origin header whose host differs from the
// request's Host). A rejected request gets 403 Forbidden.
func New(checkOrigin func(r *http.Request) bool) *Implementation {
	return &Implementation{Upgrader: websocket.Upgrader{CheckOrigin: checkOrigin}}
}

var _ transport.WebsocketImplementation = Implementation{}

// Accept upgrades the request. On failure gorilla has already written the HTTP
// error response (403 for a rejected origin, 400 for a bad handshake).
func (i Implementation) Accept(
	w http.ResponseWriter,
	r *http.Request,
	options transport.WebsocketAcceptOptions,
) (transport.WebsocketConn, error) {
	upgrader := i.Upgrader
	upgrader.Subprotocols = mergeSubprotocols(i.Upgrader.Subprotocols, options.Subprotocols)

	ws, err := upgrader.Upgrade(w, r, options.ResponseHeader)
	if err != nil {
		return nil, err
	}
	return newConn(ws, i.writeTimeout(), i.closeTimeout()), nil
}

func (i Implementation) writeTimeout() time.Duration {
	switch {
	case i.WriteTimeout == 0:
		return DefaultWriteTimeout
	case i.WriteTimeout < 0:
		return 0
	default:
		return i.WriteTimeout
	}
}

func (i Implementation) closeTimeout() time.Duration {
	if i.CloseTimeout <= 0 {
		return DefaultCloseTimeout
	}
	return i.CloseTimeout
}

// mergeSubprotocols returns own followed by those of extra it lacks, in a new
// slice: appending to own could write into the backing array shared by
// concurrent Accepts.
func mergeSubprotocols(own, extra []string) []string {
	merged := make([]string, 0, len(own)+len(extra))
	merged = append(merged, own...)
	for _, p := range extra {
		if !slices.Contains(merged, p) {
			merged = append(merged, p)
		}
	}
	return merged
}

// Conn is the transport.WebsocketConn returned by Implementation.Accept.
type Conn struct {
	ws           *websocket.Conn
	writeTimeout time.Duration
	closeTimeout time.Duration

	// writeSem serialises writes (gorilla allows one concurrent writer). It is
	// a channel rather than a sync.Mutex so that the closing handshake can give
	// up waiting for it at its deadline.
	writeSem chan struct{}

	// readMu serialises reads: gorilla allows one concurrent reader, and the
	// closing handshake reads the peer's close frame.
	readMu    sync.Mutex
	readLimit atomic.Int64 // pending SetReadLimit, applied by the next read; 0 = none pending

	mu        sync.Mutex
	readErr   error // first read error: the read side is done
	handshake bool  // WriteClose started the closing handshake, which closes the connection
	closed    bool  // Close was called
}

var (
	_ transport.WebsocketConn          = (*Conn)(nil)
	_ transport.WebsocketReadLimiter   = (*Conn)(nil)
	_ transport.WebsocketReadDeadliner = (*Conn)(nil)
)

func newConn(ws *websocket.Conn, writeTimeout, closeTimeout time.Duration) *Conn {
	return &Conn{
		ws:           ws,
		writeTimeout: writeTimeout,
		closeTimeout: closeTimeout,
		writeSem:     make(chan struct{}, 1),
	}
}

// Subprotocol returns the negotiated subprotocol, "" if none was.
func (c *Conn) Subprotocol() string {
	return c.ws.Subprotocol()
}

// NextReader reads the next data message whole and returns it with its type
// (websocket.TextMessage or websocket.BinaryMessage, the RFC 6455 opcodes 1
// and 2, which are also coder/websocket's MessageText and MessageBinary).
//
// A close frame from the peer with status 1000 or without status (1005) is
// returned as transport.ErrWebsocketClosed. Once this side is closing the
// connection (WriteClose or Close was called), other errors wrap net.ErrClosed,
// which the transport treats as "closed by us" and does not report.
func (c *Conn) NextReader() (int, io.Reader, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()

	data, messageType, err := c.readMessage()
	if err == nil {
		return messageType, bytes.NewReader(data), nil
	}
	if isNormalClose(err) {
		return 0, nil, transport.ErrWebsocketClosed
	}

	if c.closing() && !errors.Is(err, net.ErrClosed) {
		return 0, nil, fmt.Errorf("%w: %w", net.ErrClosed, err)
	}
	return 0, nil, err
}

// readMessage reads one whole message; readMu must be held. The first error is
// recorded: gorilla's read errors are permanent.
func (c *Conn) readMessage() ([]byte, int, error) {
	if limit := c.readLimit.Swap(0); limit != 0 {
		c.ws.SetReadLimit(max(limit, 0))
	}

	messageType, r, err := c.ws.NextReader()
	var data []byte
	if err == nil {
		data, err = io.ReadAll(r)
	}
	if err != nil {
		c.mu.Lock()
		if c.readErr == nil {
			c.readErr = err
		}
		c.mu.Unlock()
		return nil, 0, err
	}
	return data, messageType, nil
}

func isNormalClose(err error) bool {
	return websocket.IsCloseError(err,
		websocket.CloseNormalClosure,
		websocket.CloseNoStatusReceived,
	)
}

// WriteJSON sends v as one text message. It is safe for concurrent use.
//
// Once the connection is closing (WriteClose or Close was called, or a close
// frame was already sent, e.g. gorilla's answer to the peer's) no data message
// may follow, and WriteJSON discards v and returns nil. The transport still
// sends "complete" for the subscriptions it cancels while closing; reporting
// those writes as errors would make every close with an active subscription
// look like a failure.
func (c *Conn) WriteJSON(v any) error {
	// json.Marshal, not gorilla's WriteJSON: the latter appends a newline.
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}

	c.writeSem <- struct{}{}
	defer func() { <-c.writeSem }()

	if c.closing() {
		return nil
	}
	var deadline time.Time
	if c.writeTimeout > 0 {
		deadline = time.Now().Add(c.writeTimeout)
	}
	if err := c.ws.SetWriteDeadline(deadline); err != nil {
		return err
	}
	err = c.ws.WriteMessage(websocket.TextMessage, data)
	if errors.Is(err, websocket.ErrCloseSent) {
		return nil
	}
	return err
}

// closing reports whether WriteClose or Close was called.
func (c *Conn) closing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed || c.handshake
}

// WriteClose starts the closing handshake in the background and returns nil,
// as the coder adapter does: it sends a close frame with closeCode and message
// (truncated to the 123 bytes a close frame holds), waits until the peer's
// close frame is read or CloseTimeout passes, then closes the connection. From
// then on the handshake owns closing the connection, and Close only marks it
// closed. Only the first call (before Close) has an effect.
func (c *Conn) WriteClose(closeCode int, message string) error {
	c.mu.Lock()
	if c.handshake || c.closed {
		c.mu.Unlock()
		return nil
	}
	c.handshake = true
	deadline := time.Now().Add(c.closeTimeout)
	// Bound any read in progress or to come by the handshake's deadline; a
	// later SetReadDeadline is ignored.
	_ = c.ws.SetReadDeadline(deadline)
	c.mu.Unlock()

	go c.closeHandshake(closeCode, message, deadline)
	return nil
}

func (c *Conn) closeHandshake(closeCode int, message string, deadline time.Time) {
	defer c.ws.Close()

	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case c.writeSem <- struct{}{}:
	case <-timer.C:
		// A write is stuck on a peer that doesn't read: give up.
		return
	}
	payload := websocket.FormatCloseMessage(closeCode, truncateReason(message))
	err := c.ws.WriteControl(websocket.CloseMessage, payload, deadline)
	<-c.writeSem
	if err != nil && !errors.Is(err, websocket.ErrCloseSent) {
		return
	}

	// Wait for the peer's close frame. A read in progress (the transport's)
	// sees it, or the deadline, and records it in readErr; otherwise read here.
	c.readMu.Lock()
	defer c.readMu.Unlock()
	for {
		c.mu.Lock()
		done := c.readErr != nil
		c.mu.Unlock()
		if done {
			return
		}
		_, _, _ = c.readMessage()
	}
}

// truncateReason cuts reason to what fits in a close frame, on a rune boundary.
func truncateReason(reason string) string {
	if len(reason) <= maxCloseReason {
		return reason
	}
	cut := maxCloseReason
	for cut > 0 && !utf8.RuneStart(reason[cut]) {
		cut--
	}
	return reason[:cut]
}

// Close closes the connection at once, unless WriteClose started the closing
// handshake, which then closes it when it is over.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	handshake := c.handshake
	c.mu.Unlock()

	if handshake {
		return nil
	}
	return c.ws.Close()
}

// SetReadLimit sets the largest message the peer may send, in bytes; a limit
// of zero or less removes it. It applies from the next read. A larger message
// makes gorilla send a 1009 (message too big) close frame, and NextReader
// returns websocket.ErrReadLimit.
func (c *Conn) SetReadLimit(limit int64) {
	if limit <= 0 {
		limit = -1 // stored as non-zero: "remove the limit"
	}
	c.readLimit.Store(limit)
}

// SetReadDeadline sets the deadline of reads, including one in progress; the
// zero time removes it. A read that reaches it fails with a timeout error and
// the connection can't be read any more. It has no effect once the closing
// handshake started, which sets its own deadline.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.handshake || c.closed {
		return nil
	}
	return c.ws.SetReadDeadline(t)
}
