// Package cursor is the opaque page cursor of Tower's keyset-paginated
// lists (orders, alerts, the audit log): a row's time and id, so the next
// page starts strictly after it.
package cursor

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// ErrBad is returned for a cursor Encode did not make.
var ErrBad = errors.New("invalid cursor")

// Encode is the cursor of the row at (at, id).
func Encode(at time.Time, id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at.UnixMicro(), 10) + ":" + strconv.FormatInt(id, 10)))
}

// Decode returns the row position c was made from.
func Decode(c string) (time.Time, int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, 0, ErrBad
	}
	a, i, ok := strings.Cut(string(b), ":")
	if !ok {
		return time.Time{}, 0, ErrBad
	}
	us, err1 := strconv.ParseInt(a, 10, 64)
	id, err2 := strconv.ParseInt(i, 10, 64)
	if err1 != nil || err2 != nil {
		return time.Time{}, 0, ErrBad
	}
	return time.UnixMicro(us), id, nil
}
