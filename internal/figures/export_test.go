package figures

import (
	"fmt"
	"strings"
	"time"
)

// SpansString shows r.spans for tests: {res from to}, times as "DD HH:MM"
// UTC.
func SpansString(r *Reader, from, to, now time.Time, days bool) string {
	var parts []string
	for _, s := range r.spans(from, to, now, days) {
		parts = append(parts, fmt.Sprintf("{%d %s %s}", s.res, s.from.Format("02 15:04"), s.to.Format("02 15:04")))
	}
	return "[" + strings.Join(parts, " ") + "]"
}
