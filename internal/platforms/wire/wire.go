// Package wire holds the small readers every platform's parser needs for
// the loose JSON platforms send: ids that come as numbers or strings,
// fields that may be null, strings that may be numbers, and the one way
// Tower cuts text it repeats back (error messages, ids, snippets).
package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/towerhq/tower/domain/order"
)

// Absent reports whether a JSON field is missing or null.
func Absent(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// IsKind reports whether a JSON value starts with c: '"' a string, '{' an
// object, '[' an array.
func IsKind(raw []byte, c byte) bool { return len(raw) > 0 && raw[0] == c }

// FieldErr is the error of one field, as order.FieldError reports it.
func FieldErr(field, reason string) *order.FieldError {
	return &order.FieldError{Field: field, Reason: reason}
}

// Digits reports whether b is a non-empty run of decimal digits.
func Digits(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Str reads a JSON string; absent or null gives "".
func Str(raw json.RawMessage) (string, error) {
	if Absent(raw) {
		return "", nil
	}
	var s string
	if !IsKind(raw, '"') || json.Unmarshal(raw, &s) != nil {
		return "", errors.New("want a string")
	}
	return s, nil
}

// MaxID is the longest id ID accepts, the order model's bound.
const MaxID = 64

// ID reads an id that is a JSON integer (kept as its decimal digits, never
// through float64: platform ids are int64) or a string, of at most MaxID
// characters. Absent or null gives "".
func ID(raw json.RawMessage) (string, error) {
	if Absent(raw) {
		return "", nil
	}
	s := string(raw)
	if IsKind(raw, '"') {
		var err error
		if s, err = Str(raw); err != nil {
			return "", err
		}
	} else if !Digits(raw) {
		return "", errors.New("want an integer or a string")
	}
	if len(s) > MaxID {
		return "", fmt.Errorf("longer than %d characters", MaxID)
	}
	return s, nil
}

// IDString is a struct field for an id sent as a JSON string or a JSON
// whole number; a number keeps its exact decimal text. Unlike ID it takes
// any length: what is listed is bounded later, by the order model.
type IDString string

func (s *IDString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return errors.New("id: empty")
	case Absent(b):
		*s = ""
		return nil
	case IsKind(b, '"'):
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = IDString(v)
		return nil
	case !Digits(b):
		return fmt.Errorf("id %.40q: want a string or a whole number", b)
	}
	*s = IDString(b)
	return nil
}

// Text is a string field that may also come as a JSON number or boolean
// (Kuaidi100's state 5, Qimen's confirmType 0); null is empty. In XML it
// is plain character data.
type Text string

func (t *Text) UnmarshalJSON(b []byte) error {
	switch {
	case string(b) == "null":
		*t = ""
		return nil
	case IsKind(b, '"'):
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = Text(s)
		return nil
	case len(b) > 0 && (b[0] == '-' || b[0] >= '0' && b[0] <= '9' || b[0] == 't' || b[0] == 'f'):
		*t = Text(b)
		return nil
	}
	kind := "object"
	if IsKind(b, '[') {
		kind = "array"
	}
	return &json.UnmarshalTypeError{Value: kind, Type: reflect.TypeFor[string]()}
}

// String is the value without surrounding white space.
func (t Text) String() string { return strings.TrimSpace(string(t)) }
