package platformtest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// OrderList is one platform's fake order-list API: New serves it over a
// Store, at Path on the fake server (a client's BaseURL is then
// <server><Path>).
type OrderList struct {
	Path string // "/douyin"
	// New makes the handler; now, when set, makes it refuse request
	// timestamps too far from it (nil accepts any, which suits tests with
	// a fixed client clock).
	New func(s Store, now func() time.Time) http.Handler
}

// NewMux serves lists over s, each under its Path.
func NewMux(s Store, now func() time.Time, lists ...OrderList) http.Handler {
	mux := http.NewServeMux()
	for _, l := range lists {
		// Fakes that verify the signed path read it from the request line,
		// so stripping the prefix is harmless.
		mux.Handle(l.Path+"/", http.StripPrefix(l.Path, l.New(s, now)))
	}
	return mux
}

// WriteJSON answers v as JSON, without HTML escaping, as the platforms do.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// Fresh reports whether ts is within tol of now(); always true without a
// clock.
func Fresh(now func() time.Time, ts time.Time, tol time.Duration) bool {
	if now == nil {
		return true
	}
	d := now().Sub(ts)
	return d <= tol && d >= -tol
}

// IntParam reads an integer parameter, def when it is empty.
func IntParam(s string, def int) (int, error) {
	if s == "" {
		return def, nil
	}
	return strconv.Atoi(s)
}

// RequestID is a random request id of the kind Douyin (log_id) and TOP
// (request_id) put in their answers.
func RequestID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102150405") + strings.ToUpper(hex.EncodeToString(b[:]))
}

// MaxRequestBody caps what the fakes read from a request.
const MaxRequestBody = 1 << 20
