package standard

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// textProblem finds the first JSON string (key or value) in body that
// PostgreSQL could not store as text: bytes that are not UTF-8 (which
// encoding/json would silently replace) or a NUL (\u0000). It returns the
// field's path in the parser's style ("events[2].order.orderNo"), "" when
// every string is storable. Our own systems send this type, so they are
// told which field to fix rather than have it altered.
func textProblem(body []byte) (path, reason string) {
	if utf8.Valid(body) && !bytes.Contains(body, []byte(`\u0000`)) {
		return "", "" // the common case: one pass, no tokens
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	type frame struct {
		array bool
		index int
		key   string
		isKey bool // an object expects a key next
	}
	var stack []frame
	where := func(leaf string) string {
		var b strings.Builder
		for _, f := range stack {
			if f.array {
				b.WriteString("[" + strconv.Itoa(f.index) + "]")
			} else if f.key != "" {
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(f.key)
			}
		}
		if leaf != "" {
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(leaf)
		}
		if b.Len() == 0 {
			return "body"
		}
		return b.String()
	}
	// A value ends: the enclosing array moves on, the object wants a key.
	next := func() {
		if n := len(stack); n > 0 {
			if stack[n-1].array {
				stack[n-1].index++
			} else {
				stack[n-1].isKey = true
			}
		}
	}
	prev := dec.InputOffset()
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", "" // the parser reports bad JSON itself
		}
		raw := body[prev:dec.InputOffset()]
		prev = dec.InputOffset()
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, frame{isKey: true})
			case '[':
				stack = append(stack, frame{array: true})
			default:
				stack = stack[:len(stack)-1]
				next()
			}
			if len(stack) == 0 && (t == '}' || t == ']') {
				return "", ""
			}
			continue
		case string:
			bad := ""
			switch {
			case !utf8.Valid(raw):
				bad = "not valid UTF-8"
			case strings.ContainsRune(t, 0):
				bad = "contains a NUL character (\\u0000)"
			}
			top := len(stack) - 1
			if top >= 0 && !stack[top].array && stack[top].isKey {
				if bad != "" {
					return where(t), "field name " + bad
				}
				stack[top].key, stack[top].isKey = t, false
				continue
			}
			if bad != "" {
				return where(""), bad
			}
		}
		next()
	}
}
