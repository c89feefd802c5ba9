package platforms

import (
	"errors"
	"net/http"
	"strconv"
)

// StatusOf is the HTTP status Tower means for an error a source returned:
// 401 unauthorized, 400 malformed, 503 anything else (not stored).
func StatusOf(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrUnauthorized):
		return http.StatusUnauthorized
	case errors.Is(err, ErrMalformed):
		return http.StatusBadRequest
	}
	return http.StatusServiceUnavailable
}

// WriteJSON answers with a JSON body the way platforms expect it.
func WriteJSON(w http.ResponseWriter, status int, body []byte) {
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json; charset=utf-8")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
