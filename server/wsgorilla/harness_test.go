package wsgorilla_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/testserver"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	graphqlTransportWS = "graphql-transport-ws"
	graphqlWS          = "graphql-ws"

	waitTimeout = 5 * time.Second
)

// operation is a message of either GraphQL websocket protocol.
type operation struct {
	Type    string          `json:"type"`
	ID      string          `json:"id,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// harness runs gqlgen's test schema (a Subscription { name } driven by
// SendNextSubscriptionMessage / SendCompleteSubscriptionMessage) behind the
// websocket transport with the gorilla adapter, recording what the transport
// reports through ErrorFunc and CloseFunc.
type harness struct {
	t      *testing.T
	gql    *testserver.TestServer
	srv    *httptest.Server
	errs   chan error
	closes chan int
}

func newHarness(t *testing.T, impl transport.WebsocketImplementation, configure func(*transport.Websocket)) *harness {
	t.Helper()
	h := &harness{
		t:      t,
		gql:    testserver.New(),
		errs:   make(chan error, 64),
		closes: make(chan int, 64),
	}
	ws := transport.Websocket{
		Implementation: impl,
		ErrorFunc: func(_ context.Context, err error) {
			select {
			case h.errs <- err:
			default:
				t.Errorf("too many transport errors; dropped %v", err)
			}
		},
		CloseFunc: func(_ context.Context, code int) {
			select {
			case h.closes <- code:
			default:
				t.Errorf("too many CloseFunc calls; dropped %d", code)
			}
		},
	}
	if configure != nil {
		configure(&ws)
	}
	h.gql.AddTransport(ws)
	h.srv = httptest.NewServer(h.gql)
	t.Cleanup(h.srv.Close)
	return h
}

func (h *harness) url() string {
	return "ws" + strings.TrimPrefix(h.srv.URL, "http")
}

// dial connects a gorilla client offering subprotocols; it fails the test if
// the handshake fails.
func (h *harness) dial(subprotocols ...string) *websocket.Conn {
	h.t.Helper()
	c, resp, err := h.dialRaw(nil, subprotocols...)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		h.t.Fatalf("dial: %v (HTTP %d)", err, status)
	}
	h.t.Cleanup(func() { _ = c.Close() })
	return c
}

func (h *harness) dialRaw(header http.Header, subprotocols ...string) (*websocket.Conn, *http.Response, error) {
	d := websocket.Dialer{Subprotocols: subprotocols, HandshakeTimeout: waitTimeout}
	c, resp, err := d.Dial(h.url(), header)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	return c, resp, err
}

// wantClose waits for the transport's CloseFunc and checks its code.
func (h *harness) wantClose(code int) {
	h.t.Helper()
	select {
	case got := <-h.closes:
		if got != code {
			h.t.Fatalf("CloseFunc code = %d, want %d", got, code)
		}
	case <-time.After(waitTimeout):
		h.t.Fatalf("CloseFunc not called within %v", waitTimeout)
	}
}

// wantError waits for an error reported through ErrorFunc.
func (h *harness) wantError() error {
	h.t.Helper()
	select {
	case err := <-h.errs:
		return err
	case <-time.After(waitTimeout):
		h.t.Fatalf("ErrorFunc not called within %v", waitTimeout)
		return nil
	}
}

// noErrors checks that ErrorFunc was never called.
func (h *harness) noErrors() {
	h.t.Helper()
	for {
		select {
		case err := <-h.errs:
			h.t.Errorf("transport reported an error: %v", err)
		default:
			return
		}
	}
}

func send(t *testing.T, c *websocket.Conn, op operation) {
	t.Helper()
	if err := c.WriteJSON(op); err != nil {
		t.Fatalf("write %s: %v", op.Type, err)
	}
}

func read(t *testing.T, c *websocket.Conn) operation {
	t.Helper()
	op, err := readOp(c)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return op
}

func readOp(c *websocket.Conn) (operation, error) {
	if err := c.SetReadDeadline(time.Now().Add(waitTimeout)); err != nil {
		return operation{}, err
	}
	mt, data, err := c.ReadMessage()
	if err != nil {
		return operation{}, err
	}
	if mt != websocket.TextMessage {
		return operation{}, errors.New("not a text message")
	}
	if strings.HasSuffix(string(data), "\n") {
		return operation{}, errors.New("message ends with a newline: " + string(data))
	}
	var op operation
	err = json.Unmarshal(data, &op)
	return op, err
}

// readSkipping reads the next message whose type isn't skip, counting the
// skipped ones.
func readSkipping(t *testing.T, c *websocket.Conn, skip string) (operation, int) {
	t.Helper()
	skipped := 0
	for {
		op := read(t, c)
		if op.Type != skip {
			return op, skipped
		}
		skipped++
	}
}

func want(t *testing.T, got operation, typ, id, payload string) {
	t.Helper()
	if got.Type != typ || got.ID != id {
		t.Fatalf("got %s id=%q payload=%s, want %s id=%q", got.Type, got.ID, got.Payload, typ, id)
	}
	if payload != "" && !jsonEqual(t, string(got.Payload), payload) {
		t.Fatalf("%s payload = %s, want %s", typ, got.Payload, payload)
	}
}

func jsonEqual(t *testing.T, a, b string) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal([]byte(a), &va); err != nil {
		t.Fatalf("bad JSON %q: %v", a, err)
	}
	if err := json.Unmarshal([]byte(b), &vb); err != nil {
		t.Fatalf("bad JSON %q: %v", b, err)
	}
	ja, _ := json.Marshal(va)
	jb, _ := json.Marshal(vb)
	return string(ja) == string(jb)
}

// wantCloseFrame reads until the connection fails and checks that it failed
// on a close frame with code (and reason, when not empty).
func wantCloseFrame(t *testing.T, c *websocket.Conn, code int, reason string) {
	t.Helper()
	for {
		_, err := readOp(c)
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("read error %v, want close frame %d", err, code)
		}
		if ce.Code != code || (reason != "" && ce.Text != reason) {
			t.Fatalf("close frame %d %q, want %d %q", ce.Code, ce.Text, code, reason)
		}
		return
	}
}

// closeNormally sends a close frame the way a well-behaved client does and
// reads the server's echo.
func closeNormally(t *testing.T, c *websocket.Conn, payload []byte) {
	t.Helper()
	if err := c.WriteControl(websocket.CloseMessage, payload, time.Now().Add(waitTimeout)); err != nil {
		t.Fatalf("write close: %v", err)
	}
}

const subscription = `{"query":"subscription { name }"}`
