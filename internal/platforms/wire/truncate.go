package wire

import "unicode/utf8"

// Mark ends text that Truncate cut.
const Mark = "…"

// Truncate cuts s to at most n bytes, mark included, never inside a UTF-8
// sequence: what Tower repeats back (ids, error messages, answer snippets)
// goes to platforms, logs and a PostgreSQL text column, none of which
// takes half a character. A cut ends with Mark when n leaves room for it.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	mark := Mark
	if n < 2*len(Mark) {
		// Too short to spend on the mark.
		mark = ""
	}
	i := n - len(mark)
	// Step back to the start of the rune that would be split; a valid rune
	// is at most utf8.UTFMax bytes, so invalid input cannot walk far.
	for back := 0; back < utf8.UTFMax && i > 0 && !utf8.RuneStart(s[i]); back++ {
		i--
	}
	return s[:i] + mark
}
