package app

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// wsClient is a minimal GraphQL websocket client speaking either
// graphql-transport-ws or the legacy graphql-ws protocol, as a browser would.
type wsClient struct {
	t      testing.TB
	conn   *websocket.Conn
	proto  string
	mu     sync.Mutex
	byID   map[string]chan json.RawMessage
	errs   map[string]chan json.RawMessage
	kinds  chan string // every message type seen, for keep-alive checks
	closed chan struct{}
	// code is the close code the server sent, once closed (0: none).
	code   atomic.Int32
	ending bool // set once the test sends its close frame; later writes are the server racing us, not errors
}

// dialGraphQL connects and sends connection_init with payload; a nil
// payload carries the admin token of the test server at baseURL.
func dialGraphQL(t testing.TB, baseURL, proto string, payload map[string]any) *wsClient {
	t.Helper()
	if payload == nil {
		payload = map[string]any{}
		if tok, ok := adminTokens.Load(baseURL); ok {
			payload["Authorization"] = "Bearer " + tok.(string)
		}
	}
	return dialWith(t, baseURL, proto, payload, nil)
}

// dialWith is dialGraphQL with the upgrade request's headers h.
func dialWith(t testing.TB, baseURL, proto string, payload map[string]any, h http.Header) *wsClient {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{proto}, HandshakeTimeout: 5 * time.Second}
	if h == nil {
		h = http.Header{}
	}
	h.Set("Origin", baseURL)
	conn, resp, err := d.Dial("ws"+strings.TrimPrefix(baseURL, "http")+"/graphql", h)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	if conn.Subprotocol() != proto {
		t.Fatalf("negotiated %q, want %q", conn.Subprotocol(), proto)
	}
	c := &wsClient{t: t, conn: conn, proto: proto, byID: map[string]chan json.RawMessage{},
		errs: map[string]chan json.RawMessage{}, kinds: make(chan string, 1024), closed: make(chan struct{})}
	c.write(map[string]any{"type": "connection_init", "payload": payload})
	var ack struct{ Type string }
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := conn.ReadJSON(&ack); err != nil || ack.Type != "connection_ack" {
		t.Fatalf("connection_ack: got %q, %v", ack.Type, err)
	}
	_ = conn.SetReadDeadline(time.Time{})
	go c.read()
	t.Cleanup(func() {
		c.mu.Lock()
		c.ending = true
		c.mu.Unlock()
		_ = conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
		_ = conn.Close()
		<-c.closed
	})
	return c
}

func (c *wsClient) write(v any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ending {
		return
	}
	if err := c.conn.WriteJSON(v); err != nil {
		c.t.Errorf("ws write: %v", err)
	}
}

func (c *wsClient) read() {
	defer close(c.closed)
	for {
		var m struct {
			ID      string          `json:"id"`
			Type    string          `json:"type"`
			Payload json.RawMessage `json:"payload"`
		}
		if err := c.conn.ReadJSON(&m); err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				c.code.Store(int32(ce.Code))
			}
			return
		}
		select {
		case c.kinds <- m.Type:
		default:
		}
		c.mu.Lock()
		ch, errCh := c.byID[m.ID], c.errs[m.ID]
		c.mu.Unlock()
		switch m.Type {
		case "ping":
			c.write(map[string]any{"type": "pong"})
		case "next", "data":
			if ch != nil {
				ch <- m.Payload
			}
		case "error":
			if errCh != nil {
				errCh <- m.Payload
			}
		}
	}
}

// subscribe starts an operation and returns its payload stream.
func (c *wsClient) subscribe(id, query string, vars map[string]any) (<-chan json.RawMessage, <-chan json.RawMessage) {
	ch := make(chan json.RawMessage, 256)
	errCh := make(chan json.RawMessage, 4)
	c.mu.Lock()
	c.byID[id], c.errs[id] = ch, errCh
	c.mu.Unlock()
	typ := "subscribe"
	if c.proto == "graphql-ws" {
		typ = "start"
	}
	c.write(map[string]any{"id": id, "type": typ, "payload": map[string]any{"query": query, "variables": vars}})
	return ch, errCh
}

// next waits for the next payload on ch and decodes its data into v.
func next(t testing.TB, ch <-chan json.RawMessage, timeout time.Duration, v any) {
	t.Helper()
	select {
	case raw := <-ch:
		var p struct {
			Data   json.RawMessage  `json:"data"`
			Errors []map[string]any `json:"errors"`
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatal(err)
		}
		if len(p.Errors) > 0 {
			t.Fatalf("subscription error: %v", p.Errors)
		}
		if err := json.Unmarshal(p.Data, v); err != nil {
			t.Fatal(err)
		}
	case <-time.After(timeout):
		t.Fatalf("no push within %s", timeout)
	}
}

// closedWith waits for the server to close c and returns its close code.
func (c *wsClient) closedWith(t testing.TB, timeout time.Duration) int {
	t.Helper()
	select {
	case <-c.closed:
		return int(c.code.Load())
	case <-time.After(timeout):
		t.Fatalf("the server did not close the websocket within %s", timeout)
		return 0
	}
}

// dialRefused connects, sends connection_init with payload (and the
// upgrade request's header h), and returns the close code the server
// answers with instead of connection_ack (0 if it acknowledged).
func dialRefused(t testing.TB, baseURL, proto string, payload map[string]any, h http.Header) int {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{proto}, HandshakeTimeout: 5 * time.Second}
	if h == nil {
		h = http.Header{}
	}
	h.Set("Origin", baseURL)
	conn, resp, err := d.Dial("ws"+strings.TrimPrefix(baseURL, "http")+"/graphql", h)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	defer conn.Close()
	if payload == nil {
		payload = map[string]any{}
	}
	if err := conn.WriteJSON(map[string]any{"type": "connection_init", "payload": payload}); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		var m struct{ Type string }
		if err := conn.ReadJSON(&m); err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code
			}
			t.Fatalf("websocket ended without a close frame: %v", err)
		}
		if m.Type == "connection_ack" {
			return 0
		}
	}
}
