package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/towerhq/tower/domain/order"
)

// personal maps the payload keys holding personal data (order events and
// twins carry a receiver and buyer details) to their mask.
var personal = map[string]func(string) string{
	"name":         order.MaskName,
	"phone":        order.MaskPhone,
	"address":      order.MaskAddress,
	"buyerId":      maskAll,
	"buyerIp":      maskAll,
	"buyerMessage": maskAll,
}

func maskAll(string) string { return "***" }

// Preview renders the start of a JSON payload as compact JSON of at most
// limit characters, with personal data masked when mask is set. It reads
// token by token, so a payload cut short (a listing reads only its first
// KiBs) still previews up to the cut.
func Preview(payload []byte, limit int, mask bool) string {
	var b strings.Builder
	type frame struct {
		object bool
		n      int    // tokens written in this container
		key    string // the last key read, in an object
	}
	var stack []*frame
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	complete := false
	for {
		tok, err := dec.Token()
		if err != nil {
			// The decoder says EOF at a cut too: complete only outside
			// every container.
			complete = errors.Is(err, io.EOF) && len(stack) == 0
			break
		}
		if b.Len() >= 4*limit { // enough runes, whatever the script
			break
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			b.WriteRune(rune(d))
			continue
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
			switch {
			case top.object && top.n%2 == 1:
				b.WriteByte(':')
			case top.n > 0:
				b.WriteByte(',')
			}
			top.n++
		}
		isKey := top != nil && top.object && top.n%2 == 1
		var maskFn func(string) string
		if !isKey && top != nil && top.object && mask {
			maskFn = personal[top.key]
		}
		switch v := tok.(type) {
		case json.Delim:
			b.WriteRune(rune(v))
			stack = append(stack, &frame{object: v == '{'})
		case string:
			if isKey {
				top.key = v
			} else if maskFn != nil {
				v = maskFn(v)
			}
			enc, _ := json.Marshal(v)
			b.Write(enc)
		case nil:
			b.WriteString("null")
		default: // json.Number, bool
			enc, _ := json.Marshal(v)
			b.Write(enc)
		}
	}
	return cut(b.String(), limit, !complete)
}

// cut shortens s to limit characters, marking a cut with an ellipsis.
func cut(s string, limit int, short bool) string {
	if utf8.RuneCountInString(s) <= limit && !short {
		return s
	}
	rs := []rune(s)
	if len(rs) > limit {
		rs = rs[:limit]
	}
	return string(rs) + "…"
}
