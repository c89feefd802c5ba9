package wire

import (
	"unicode/utf8"
)

// XMLText returns body with every byte sequence that is not UTF-8, and
// every character XML 1.0 forbids (NUL and the other C0 controls but tab,
// newline and carriage return; U+FFFE, U+FFFF), replaced by U+FFFD, and
// whether anything was. encoding/xml refuses such a body outright; a
// platform cannot change what it sends, so its push is read as far as it
// goes instead, and the delivery flagged. A clean body is returned as it
// is, without a copy.
func XMLText(body []byte) ([]byte, bool) {
	i := firstBad(body)
	if i < 0 {
		return body, false
	}
	out := make([]byte, 0, len(body)+8)
	out = append(out, body[:i]...)
	for i < len(body) {
		r, n := utf8.DecodeRune(body[i:])
		if (r == utf8.RuneError && n == 1) || !xmlChar(r) {
			out = utf8.AppendRune(out, utf8.RuneError)
		} else {
			out = append(out, body[i:i+n]...)
		}
		i += n
	}
	return out, true
}

func firstBad(b []byte) int {
	for i := 0; i < len(b); {
		if c := b[i]; c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				return i
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if (r == utf8.RuneError && n == 1) || !xmlChar(r) {
			return i
		}
		i += n
	}
	return -1
}

// xmlChar is XML 1.0's Char production.
func xmlChar(r rune) bool {
	return r == '\t' || r == '\n' || r == '\r' ||
		r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}
