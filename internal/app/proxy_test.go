package app

import (
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
)

// cutProxy is a TCP proxy in front of a test server that a browser test
// can cut: POST /pause on its control URL drops every open connection
// (websockets included: the browser really sees them close) and stops
// listening, so new connections are refused, as if the server had gone
// away; POST /resume listens again on the same address.
type cutProxy struct {
	t      testing.TB
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
}

// startCutProxy proxies to target (host:port); URL is where the browser
// goes, Control where the test pauses and resumes it.
func startCutProxy(t testing.TB, target string) (proxyURL, controlURL string) {
	t.Helper()
	p := &cutProxy{t: t, target: target, conns: map[net.Conn]struct{}{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)

	mux := http.NewServeMux()
	mux.HandleFunc("POST /pause", func(w http.ResponseWriter, _ *http.Request) { p.pause(); w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("POST /resume", func(w http.ResponseWriter, _ *http.Request) {
		if err := p.resume(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	cln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	control := &http.Server{Handler: mux}
	go func() { _ = control.Serve(cln) }()
	t.Cleanup(func() {
		_ = control.Close()
		p.pause()
	})
	return "http://" + p.addr, "http://" + cln.Addr().String()
}

func (p *cutProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed by pause
			}
			go p.pipe(c)
		}
	}()
}

func (p *cutProxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		return false // paused while dialling
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *cutProxy) pipe(client net.Conn) {
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = client.Close()
		return
	}
	if !p.track(client, server) {
		_ = client.Close()
		_ = server.Close()
		return
	}
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go cp(server, client)
	go cp(client, server)
	<-done
	_ = client.Close()
	_ = server.Close()
	p.mu.Lock()
	delete(p.conns, client)
	delete(p.conns, server)
	p.mu.Unlock()
}

func (p *cutProxy) pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		_ = c.Close()
		delete(p.conns, c)
	}
}

func (p *cutProxy) resume() error {
	p.mu.Lock()
	paused := p.ln == nil
	p.mu.Unlock()
	if !paused {
		return nil
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		return errors.Join(errors.New("listen again on "+p.addr), err)
	}
	p.serve(ln)
	return nil
}
