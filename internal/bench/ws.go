package bench

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// subscriber is one graphql-transport-ws connection, as a browser tab
// holds it: it counts the frames and bytes it receives, and hands the
// payloads of watched operations to their channel.
type subscriber struct {
	conn   *websocket.Conn
	mu     sync.Mutex // one writer at a time
	frames atomic.Int64
	bytes  atomic.Int64

	wmu     sync.Mutex
	watched map[string]chan time.Time
	done    chan struct{}
}

func dial(baseURL, token string) (*subscriber, error) {
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: 30 * time.Second,
		ReadBufferSize: 1024, WriteBufferSize: 1024}
	h := http.Header{}
	h.Set("Origin", baseURL)
	conn, _, err := d.Dial("ws"+strings.TrimPrefix(baseURL, "http")+"/graphql", h)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	s := &subscriber{conn: conn, watched: map[string]chan time.Time{}, done: make(chan struct{})}
	if err := s.write(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + token}}); err != nil {
		conn.Close()
		return nil, err
	}
	var ack struct{ Type string }
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	if err := conn.ReadJSON(&ack); err != nil || ack.Type != "connection_ack" {
		conn.Close()
		return nil, fmt.Errorf("connection_ack: %q %v", ack.Type, err)
	}
	_ = conn.SetReadDeadline(time.Time{})
	go s.read()
	return s, nil
}

func (s *subscriber) write(v any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn.WriteJSON(v)
}

func (s *subscriber) read() {
	defer close(s.done)
	for {
		_, b, err := s.conn.ReadMessage()
		if err != nil {
			return
		}
		at := time.Now()
		s.frames.Add(1)
		s.bytes.Add(int64(len(b)))
		var m struct{ ID, Type string }
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		switch m.Type {
		case "ping":
			_ = s.write(map[string]any{"type": "pong"})
		case "next":
			s.wmu.Lock()
			ch := s.watched[m.ID]
			s.wmu.Unlock()
			if ch != nil {
				select {
				case ch <- at:
				default:
				}
			}
		}
	}
}

// subscribe starts an operation; with watch, its pushes' arrival times
// come on the returned channel.
func (s *subscriber) subscribe(id, query string, vars map[string]any, watch bool) (<-chan time.Time, error) {
	var ch chan time.Time
	if watch {
		ch = make(chan time.Time, 16)
		s.wmu.Lock()
		s.watched[id] = ch
		s.wmu.Unlock()
	}
	return ch, s.write(map[string]any{"id": id, "type": "subscribe", "payload": map[string]any{"query": query, "variables": vars}})
}

func (s *subscriber) close() {
	s.mu.Lock()
	_ = s.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	s.mu.Unlock()
	_ = s.conn.Close()
	<-s.done
}
