package figures

import (
	"fmt"
	"strings"
	"time"
)

// SpansString shows r.spans for tests: {res from to}, times as HH:MM UTC.
func SpansString(r *Reader, from, to, now time.Time) string {
	var parts []string
	for _, s := range r.spans(from, to, now) {
		parts = append(parts, fmt.Sprintf("{%d %s %s}", s.res, s.from.Format("15:04"), s.to.Format("15:04")))
	}
	return "[" + strings.Join(parts, " ") + "]"
}
