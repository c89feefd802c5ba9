package wsgorilla_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/towerhq/tower/server/wsgorilla"
)

func TestGraphQLTransportWS(t *testing.T) {
	h := newHarness(t, wsgorilla.New(nil), nil)
	c := h.dial(graphqlTransportWS)
	if got := c.Subprotocol(); got != graphqlTransportWS {
		t.Fatalf("negotiated %q, want %q", got, graphqlTransportWS)
	}

	send(t, c, operation{Type: "connection_init"})
	want(t, read(t, c), "connection_ack", "", "")

	send(t, c, operation{Type: "ping", Payload: json.RawMessage(`{"n":1}`)})
	want(t, read(t, c), "pong", "", `{"n":1}`)

	send(t, c, operation{Type: "subscribe", ID: "s1", Payload: json.RawMessage(subscription)})
	for range 3 {
		h.gql.SendNextSubscriptionMessage()
		want(t, read(t, c), "next", "s1", `{"data":{"name":"test"}}`)
	}
	h.gql.SendCompleteSubscriptionMessage()
	want(t, read(t, c), "complete", "s1", "")

	closeNormally(t, c, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"))
	wantCloseFrame(t, c, websocket.CloseNormalClosure, "")
	h.wantClose(websocket.CloseNormalClosure)
	h.noErrors()
}

func TestGraphQLWSLegacy(t *testing.T) {
	for _, offered := range [][]string{{graphqlWS}, nil} {
		t.Run(fmt.Sprintf("offered=%q", offered), func(t *testing.T) {
			h := newHarness(t, wsgorilla.New(nil), func(ws *transport.Websocket) {
				ws.KeepAlivePingInterval = 20 * time.Millisecond
			})
			c := h.dial(offered...)
			wantProto := ""
			if offered != nil {
				wantProto = graphqlWS
			}
			if got := c.Subprotocol(); got != wantProto {
				t.Fatalf("negotiated %q, want %q", got, wantProto)
			}

			send(t, c, operation{Type: "connection_init"})
			want(t, read(t, c), "connection_ack", "", "")
			want(t, read(t, c), "ka", "", "") // sent right after the ack

			send(t, c, operation{Type: "start", ID: "q1", Payload: json.RawMessage(subscription)})
			h.gql.SendNextSubscriptionMessage()
			op, _ := readSkipping(t, c, "ka")
			want(t, op, "data", "q1", `{"data":{"name":"test"}}`)

			// Keep-alives keep coming every KeepAlivePingInterval.
			deadline := time.Now().Add(waitTimeout)
			for kas := 0; kas < 3; {
				if time.Now().After(deadline) {
					t.Fatalf("got %d keep-alives within %v, want 3", kas, waitTimeout)
				}
				want(t, read(t, c), "ka", "", "")
				kas++
			}

			send(t, c, operation{Type: "stop", ID: "q1"})
			op, _ = readSkipping(t, c, "ka")
			want(t, op, "complete", "q1", "")

			// connection_terminate: the server closes normally.
			send(t, c, operation{Type: "connection_terminate"})
			wantCloseFrame(t, c, websocket.CloseNormalClosure, "terminated")
			h.wantClose(websocket.CloseNormalClosure)
			h.noErrors()
		})
	}
}

// A client closing the connection ends the server side cleanly: the transport
// reports no error for 1000 or an empty close frame (1005), active
// subscriptions end, the closing handshake ends at once, and no goroutine is
// left behind. Other codes and a vanished peer are reported, as gqlgen's coder
// adapter reports them.
func TestClientClose(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload []byte // close frame payload; nil: drop the TCP connection
		echo    int    // code of the server's answering close frame
		wantErr int    // close code of the error reported; 0: none
	}{
		{"normal closure", websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), websocket.CloseNormalClosure, 0},
		{"no status", []byte{}, websocket.CloseNoStatusReceived, 0},
		{"going away is reported like the coder adapter does", websocket.FormatCloseMessage(websocket.CloseGoingAway, ""), websocket.CloseGoingAway, websocket.CloseGoingAway},
		{"dropped connection", nil, 0, websocket.CloseAbnormalClosure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ignore := goleak.IgnoreCurrent()
			impl := wsgorilla.New(nil)
			impl.CloseTimeout = time.Minute // the handshake must not need it
			h := newHarness(t, impl, func(ws *transport.Websocket) {
				ws.KeepAlivePingInterval = 10 * time.Millisecond
			})
			c := h.dial(graphqlWS)
			send(t, c, operation{Type: "connection_init"})
			want(t, read(t, c), "connection_ack", "", "")
			send(t, c, operation{Type: "start", ID: "a", Payload: json.RawMessage(subscription)})
			send(t, c, operation{Type: "start", ID: "b", Payload: json.RawMessage(subscription)})
			h.gql.SendNextSubscriptionMessage()
			op, _ := readSkipping(t, c, "ka")
			want(t, op, "data", op.ID, "")

			if tc.payload == nil {
				_ = c.NetConn().Close()
			} else {
				closeNormally(t, c, tc.payload)
				// The server answers with a close frame and drops the TCP
				// connection without waiting for CloseTimeout.
				wantCloseFrame(t, c, tc.echo, "")
				if err := c.NetConn().SetReadDeadline(time.Now().Add(waitTimeout)); err != nil {
					t.Fatal(err)
				}
				if n, err := c.NetConn().Read(make([]byte, 1)); err != io.EOF {
					t.Fatalf("raw read after close handshake: %d, %v; want EOF", n, err)
				}
			}
			h.wantClose(websocket.CloseNormalClosure)

			if tc.wantErr == 0 {
				h.noErrors()
			} else {
				err := h.wantError()
				var we transport.WebsocketError
				var ce *websocket.CloseError
				if !errors.As(err, &we) || !we.IsReadError || !errors.As(err, &ce) || ce.Code != tc.wantErr {
					t.Fatalf("reported %#v, want a read error with close code %d", err, tc.wantErr)
				}
				h.noErrors()
			}

			_ = c.Close()
			h.srv.Close()
			goleak.VerifyNone(t, ignore)
		})
	}
}

// An oversized message makes the server close the connection with 1009.
func TestReadLimit(t *testing.T) {
	limit := int64(1024)
	for _, tc := range []struct {
		name      string
		afterInit bool
	}{{"after init", true}, {"first message", false}} {
		t.Run(tc.name, func(t *testing.T) {
			ignore := goleak.IgnoreCurrent()
			h := newHarness(t, wsgorilla.New(nil), func(ws *transport.Websocket) {
				ws.PayloadReadLimit = &limit
			})
			c := h.dial(graphqlTransportWS)
			if tc.afterInit {
				send(t, c, operation{Type: "connection_init"})
				want(t, read(t, c), "connection_ack", "", "")
				// A message within the limit goes through.
				q := `{"query":"subscription { name }` + strings.Repeat(" ", int(limit)-200) + `"}`
				send(t, c, operation{Type: "subscribe", ID: "ok", Payload: json.RawMessage(q)})
				h.gql.SendNextSubscriptionMessage()
				want(t, read(t, c), "next", "ok", "")
			}

			big := `{"type":"subscribe","id":"big","payload":{"query":"` + strings.Repeat("x", 256<<10) + `"}}`
			// The server may reset the connection before the whole message is
			// written; what matters is the close frame it sent first.
			_ = c.WriteMessage(websocket.TextMessage, []byte(big))
			wantCloseFrame(t, c, websocket.CloseMessageTooBig, "")

			if tc.afterInit {
				err := h.wantError()
				var we transport.WebsocketError
				if !errors.As(err, &we) || !we.IsReadError || !errors.Is(err, websocket.ErrReadLimit) {
					t.Fatalf("reported %v, want read error %v", err, websocket.ErrReadLimit)
				}
				h.wantClose(websocket.CloseNormalClosure)
			} else {
				// init fails to read its message: the transport closes with a
				// protocol error, which it doesn't report.
				h.wantClose(websocket.CloseProtocolError)
			}
			h.noErrors()

			_ = c.Close()
			h.srv.Close()
			goleak.VerifyNone(t, ignore)
		})
	}
}

func TestCheckOrigin(t *testing.T) {
	const ours = "https://app.tower.example"
	allow := func(r *http.Request) bool { return r.Header.Get("Origin") == ours }

	for _, tc := range []struct {
		name   string
		impl   *wsgorilla.Implementation
		origin string
		status int
	}{
		{"allowed origin", wsgorilla.New(allow), ours, http.StatusSwitchingProtocols},
		{"foreign origin", wsgorilla.New(allow), "https://evil.example", http.StatusForbidden},
		{"default same-origin check rejects a foreign origin", wsgorilla.New(nil), "https://evil.example", http.StatusForbidden},
		{"default same-origin check admits no Origin", wsgorilla.New(nil), "", http.StatusSwitchingProtocols},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.impl, nil)
			header := http.Header{}
			if tc.origin != "" {
				header.Set("Origin", tc.origin)
			}
			c, resp, err := h.dialRaw(header, graphqlTransportWS)
			if resp == nil {
				t.Fatalf("dial: no response: %v", err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("HTTP %d (%v), want %d", resp.StatusCode, err, tc.status)
			}
			if tc.status != http.StatusSwitchingProtocols {
				if !errors.Is(err, websocket.ErrBadHandshake) {
					t.Fatalf("dial error %v, want %v", err, websocket.ErrBadHandshake)
				}
				return
			}
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer c.Close()
			send(t, c, operation{Type: "connection_init"})
			want(t, read(t, c), "connection_ack", "", "")
		})
	}
}

// The upgrader's own subprotocols are kept and come first; gqlgen's are
// added without touching the configured slice.
func TestSubprotocols(t *testing.T) {
	own := make([]string, 1, 8) // spare capacity: appending in place would show
	own[0] = "tower-custom"
	impl := wsgorilla.Implementation{
		Upgrader:     websocket.Upgrader{Subprotocols: own},
		CloseTimeout: time.Minute, // the handshake must not need it
	}

	t.Run("client preference picks a gqlgen protocol", func(t *testing.T) {
		h := newHarness(t, impl, nil)
		c := h.dial(graphqlWS, graphqlTransportWS)
		if got := c.Subprotocol(); got != graphqlWS {
			t.Fatalf("negotiated %q, want %q", got, graphqlWS)
		}
		c = h.dial("unknown", graphqlTransportWS)
		if got := c.Subprotocol(); got != graphqlTransportWS {
			t.Fatalf("negotiated %q, want %q", got, graphqlTransportWS)
		}
		send(t, c, operation{Type: "connection_init"})
		want(t, read(t, c), "connection_ack", "", "")
	})

	t.Run("a non-GraphQL protocol is negotiated then refused with 1002", func(t *testing.T) {
		ignore := goleak.IgnoreCurrent()
		h := newHarness(t, impl, nil)
		c := h.dial("tower-custom")
		if got := c.Subprotocol(); got != "tower-custom" {
			t.Fatalf("negotiated %q, want tower-custom", got)
		}
		// The transport calls WriteClose and returns without Close: the
		// closing handshake must close the connection by itself.
		wantCloseFrame(t, c, websocket.CloseProtocolError, "unsupported negotiated subprotocol tower-custom")
		if err := c.NetConn().SetReadDeadline(time.Now().Add(waitTimeout)); err != nil {
			t.Fatal(err)
		}
		if _, err := c.NetConn().Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("raw read after close handshake: %v, want EOF", err)
		}
		_ = c.Close()
		h.srv.Close()
		goleak.VerifyNone(t, ignore)
	})

	if own[:cap(own)][1] != "" || len(impl.Upgrader.Subprotocols) != 1 {
		t.Fatalf("Accept modified the configured subprotocols: %q", own[:cap(own)])
	}
}

// graphql-transport-ws pings go through WriteJSON; a missing pong trips the
// read deadline set through WebsocketReadDeadliner.
func TestPingPong(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	// Generous: a pong later than the interval (a loaded machine) would trip
	// the deadline.
	const interval = 300 * time.Millisecond
	h := newHarness(t, wsgorilla.New(nil), func(ws *transport.Websocket) {
		ws.PingPongInterval = interval
	})
	c := h.dial(graphqlTransportWS)
	send(t, c, operation{Type: "connection_init"})
	want(t, read(t, c), "connection_ack", "", "")

	// Answered pings keep the connection open past the 2*interval deadline.
	start := time.Now()
	for range 4 {
		want(t, read(t, c), "ping", "", "")
		send(t, c, operation{Type: "pong"})
	}
	if elapsed := time.Since(start); elapsed < 3*interval {
		t.Fatalf("4 pings in %v, want them %v apart", elapsed, interval)
	}

	// Stop answering: the server gives up after about 2*interval.
	stopped := time.Now()
	for {
		op, err := readOp(c)
		if err == nil {
			want(t, op, "ping", "", "")
			continue
		}
		if !errors.As(err, new(*websocket.CloseError)) {
			t.Fatalf("read: %v, want a close frame", err)
		}
		break
	}
	if elapsed := time.Since(stopped); elapsed > 3*time.Second {
		t.Fatalf("server closed %v after the last pong", elapsed)
	}
	err := h.wantError()
	var ne interface{ Timeout() bool }
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("reported %v, want a read timeout", err)
	}
	h.wantClose(websocket.CloseNormalClosure)
	h.noErrors()

	_ = c.Close()
	h.srv.Close()
	goleak.VerifyNone(t, ignore)
}

// A peer that never answers the close frame is dropped after CloseTimeout.
func TestCloseTimeout(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	const closeTimeout = 300 * time.Millisecond
	impl := wsgorilla.New(nil)
	impl.CloseTimeout = closeTimeout
	h := newHarness(t, impl, func(ws *transport.Websocket) {
		ws.InitTimeout = 50 * time.Millisecond
	})
	c := h.dial(graphqlTransportWS)
	start := time.Now()

	// The client neither sends connection_init nor reads, so it answers no
	// close frame; the init timeout makes the server close with 1002.
	h.wantClose(websocket.CloseProtocolError)
	h.noErrors()

	// Raw bytes: the close frame, then EOF once CloseTimeout passed.
	nc := c.NetConn()
	if err := nc.SetReadDeadline(time.Now().Add(waitTimeout)); err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(nc)
	if err != nil {
		t.Fatalf("raw read: %v (got %q)", err, data)
	}
	elapsed := time.Since(start)
	reason := "connection initialisation timeout"
	frame := append([]byte{0x88, byte(2 + len(reason)), 0, 0}, reason...)
	binary.BigEndian.PutUint16(frame[2:], websocket.CloseProtocolError)
	if !bytes.Equal(data, frame) {
		t.Fatalf("server sent %q, want the close frame %q", data, frame)
	}
	if elapsed < closeTimeout {
		t.Fatalf("server dropped the connection after %v, before CloseTimeout %v", elapsed, closeTimeout)
	}

	_ = c.Close()
	h.srv.Close()
	goleak.VerifyNone(t, ignore)
}

// Exercises the connection directly: concurrent WriteJSON calls interleaved
// with deadline and limit changes, concurrent WriteClose/Close, reading,
// message types and the response header. Run with -race.
func TestConnConcurrency(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	impl := wsgorilla.New(nil)
	accepted := make(chan transport.WebsocketConn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := impl.Accept(w, r, transport.WebsocketAcceptOptions{
			ResponseHeader: http.Header{"X-Tower": {"yes"}},
			Subprotocols:   []string{graphqlTransportWS, graphqlWS},
		})
		if err != nil {
			t.Errorf("accept: %v", err)
			return
		}
		accepted <- conn
	}))
	defer srv.Close()

	d := websocket.Dialer{Subprotocols: []string{graphqlTransportWS}}
	c, resp, err := d.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	if got := resp.Header.Get("X-Tower"); got != "yes" {
		t.Fatalf("response header X-Tower = %q, want yes", got)
	}
	conn := <-accepted
	if got := conn.Subprotocol(); got != graphqlTransportWS {
		t.Fatalf("server Subprotocol() = %q", got)
	}
	limiter := conn.(transport.WebsocketReadLimiter)
	deadliner := conn.(transport.WebsocketReadDeadliner)

	// Reads: text and binary messages come whole, with gorilla's (RFC)
	// message types, while the limit and deadline change concurrently.
	type result struct {
		mt   int
		data string
		err  error
	}
	reads := make(chan result, 8)
	go func() {
		for {
			mt, r, err := conn.NextReader()
			if err != nil {
				reads <- result{err: err}
				return
			}
			data, err := io.ReadAll(r)
			reads <- result{mt, string(data), err}
		}
	}()

	const writers, perWriter = 8, 100
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range perWriter {
				if err := conn.WriteJSON(map[string]int{"g": g, "i": i}); err != nil {
					t.Errorf("WriteJSON: %v", err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := range perWriter {
			limiter.SetReadLimit(int64(1<<20 + i))
			_ = deadliner.SetReadDeadline(time.Now().Add(time.Minute))
		}
		_ = deadliner.SetReadDeadline(time.Time{})
	})

	if err := c.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`)); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}

	next := make([]int, writers)
	for range writers * perWriter {
		if err := c.SetReadDeadline(time.Now().Add(waitTimeout)); err != nil {
			t.Fatal(err)
		}
		mt, data, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("client read: %v", err)
		}
		var m struct{ G, I int }
		if mt != websocket.TextMessage || json.Unmarshal(data, &m) != nil {
			t.Fatalf("corrupt message %d %q", mt, data)
		}
		if m.I != next[m.G] {
			t.Fatalf("writer %d: message %d, want %d", m.G, m.I, next[m.G])
		}
		next[m.G]++
	}
	wg.Wait()

	for _, w := range []result{{websocket.TextMessage, `{"type":"ping"}`, nil}, {websocket.BinaryMessage, "\x01\x02\x03", nil}} {
		select {
		case got := <-reads:
			if got != w {
				t.Fatalf("NextReader gave %+v, want %+v", got, w)
			}
		case <-time.After(waitTimeout):
			t.Fatal("NextReader returned nothing")
		}
	}

	// Concurrent closes: exactly one close frame, then the connection ends.
	for range 2 {
		wg.Go(func() { _ = conn.WriteClose(4400, "bye") })
	}
	wg.Wait()
	for range 2 {
		wg.Go(func() { _ = conn.Close() })
		wg.Go(func() {
			// Writes after WriteClose are dropped, without an error for the
			// transport to report.
			if err := conn.WriteJSON(map[string]string{"late": "write"}); err != nil {
				t.Errorf("WriteJSON after WriteClose: %v", err)
			}
		})
	}
	wg.Wait()
	if err := c.SetReadDeadline(time.Now().Add(waitTimeout)); err != nil {
		t.Fatal(err)
	}
	if _, data, err := c.ReadMessage(); !websocket.IsCloseError(err, 4400) {
		t.Fatalf("client read: %q, %v; want close 4400", data, err)
	}
	// The client's echo ends the handshake: the server side reports a
	// closed connection, not an error to log.
	select {
	case got := <-reads:
		if !errors.Is(got.err, transport.ErrWebsocketClosed) && !errors.Is(got.err, net.ErrClosed) {
			t.Fatalf("server NextReader after close: %v", got.err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("server NextReader did not return after close")
	}

	_ = c.Close()
	srv.Close()
	goleak.VerifyNone(t, ignore)
}

// A peer's normal close reaches NextReader as exactly ErrWebsocketClosed.
func TestNextReaderNormalClose(t *testing.T) {
	for _, payload := range [][]byte{websocket.FormatCloseMessage(websocket.CloseNormalClosure, "done"), {}} {
		impl := wsgorilla.New(nil)
		accepted := make(chan transport.WebsocketConn, 1)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, err := impl.Accept(w, r, transport.WebsocketAcceptOptions{})
			if err != nil {
				t.Errorf("accept: %v", err)
				return
			}
			accepted <- conn
		}))
		c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
		if err != nil {
			t.Fatal(err)
		}
		conn := <-accepted
		closeNormally(t, c, payload)
		_, _, err = conn.NextReader()
		if err != transport.ErrWebsocketClosed {
			t.Fatalf("NextReader: %v, want transport.ErrWebsocketClosed", err)
		}
		_ = conn.Close()
		_ = c.Close()
		srv.Close()
	}
}

// A close reason longer than a close frame holds is cut, not dropped.
func TestLongCloseReason(t *testing.T) {
	impl := wsgorilla.New(nil)
	accepted := make(chan transport.WebsocketConn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := impl.Accept(w, r, transport.WebsocketAcceptOptions{})
		if err != nil {
			t.Errorf("accept: %v", err)
			return
		}
		accepted <- conn
	}))
	defer srv.Close()
	c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conn := <-accepted
	reason := strings.Repeat("é", 100) // 200 bytes
	_ = conn.WriteClose(4000, reason)
	_ = conn.Close()

	_, _, err = c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 4000 {
		t.Fatalf("client read: %v, want close 4000", err)
	}
	if want := strings.Repeat("é", 61); ce.Text != want {
		t.Fatalf("reason %q (%d bytes), want %d bytes", ce.Text, len(ce.Text), len(want))
	}
}
