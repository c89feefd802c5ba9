// Package pgtext makes text storable in PostgreSQL. Its text and jsonb types
// refuse two things a Go string may hold: bytes that are not UTF-8 (invalid
// byte sequence for encoding "UTF8") and NUL (U+0000, which jsonb refuses as
// \u0000 too). Ingest shares one transaction between many senders, so one
// sender's such bytes would fail every delivery committed with it:
// everything a sender controls goes through here before it is stored.
package pgtext

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Replacement stands in for each byte that is not UTF-8 and for each NUL.
const Replacement = "\uFFFD"

// Reasons a Problem reports.
const (
	ReasonNUL     = "contains NUL (\\u0000), which cannot be stored"
	ReasonNotUTF8 = "not valid UTF-8"
)

// Valid reports whether PostgreSQL stores s as it is: valid UTF-8, no NUL.
func Valid(s string) bool {
	return strings.IndexByte(s, 0) < 0 && utf8.ValidString(s)
}

// Problem says why s cannot be stored as it is ("" when it can).
func Problem(s string) string {
	switch {
	case strings.IndexByte(s, 0) >= 0:
		return ReasonNUL
	case !utf8.ValidString(s):
		return ReasonNotUTF8
	}
	return ""
}

// String returns s made storable: each NUL and each byte that does not
// start a valid UTF-8 sequence becomes U+FFFD. A storable s is returned as
// it is. One replacement per byte, rather than per run, keeps the count of
// bad bytes visible to whoever audits the row.
func String(s string) string {
	if Valid(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 2*len(Replacement))
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c == 0 {
				b.WriteString(Replacement)
			} else {
				b.WriteByte(c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString(Replacement)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// maxDepth stops the walks on values nested deeper than any Tower stores
// (and on cycles, which none has).
const maxDepth = 64

// Clean returns v with every string it holds made storable (see String):
// strings, and strings in exported struct fields, pointers, interfaces,
// slices, arrays and maps (keys too), at any depth. v itself is never
// modified: what changes is copied, what does not is shared. changed
// reports whether anything was replaced.
func Clean[T any](v T) (_ T, changed bool) {
	rv := reflect.ValueOf(&v).Elem()
	out, changed := clean(rv, 0)
	if !changed {
		return v, false
	}
	return out.Interface().(T), true
}

func clean(v reflect.Value, depth int) (reflect.Value, bool) {
	if depth > maxDepth || textFree(v.Type()) {
		return v, false
	}
	switch v.Kind() {
	case reflect.String:
		s := v.String()
		if Valid(s) {
			return v, false
		}
		out := reflect.New(v.Type()).Elem()
		out.SetString(String(s))
		return out, true
	case reflect.Pointer:
		if v.IsNil() {
			return v, false
		}
		e, ok := clean(v.Elem(), depth+1)
		if !ok {
			return v, false
		}
		out := reflect.New(v.Type().Elem())
		out.Elem().Set(e)
		return out, true
	case reflect.Interface:
		if v.IsNil() {
			return v, false
		}
		e, ok := clean(v.Elem(), depth+1)
		if !ok {
			return v, false
		}
		out := reflect.New(v.Type()).Elem()
		out.Set(e)
		return out, true
	case reflect.Struct:
		var out reflect.Value
		t := v.Type()
		for i := range t.NumField() {
			if !t.Field(i).IsExported() {
				continue
			}
			f, ok := clean(v.Field(i), depth+1)
			if !ok {
				continue
			}
			if !out.IsValid() {
				out = reflect.New(t).Elem()
				out.Set(v)
			}
			out.Field(i).Set(f)
		}
		if !out.IsValid() {
			return v, false
		}
		return out, true
	case reflect.Slice, reflect.Array:
		var out reflect.Value
		for i := range v.Len() {
			e, ok := clean(v.Index(i), depth+1)
			if !ok {
				continue
			}
			if !out.IsValid() {
				if v.Kind() == reflect.Slice {
					out = reflect.MakeSlice(v.Type(), v.Len(), v.Len())
					reflect.Copy(out, v)
				} else {
					out = reflect.New(v.Type()).Elem()
					out.Set(v)
				}
			}
			out.Index(i).Set(e)
		}
		if !out.IsValid() {
			return v, false
		}
		return out, true
	case reflect.Map:
		if v.IsNil() {
			return v, false
		}
		changed := false
		keys := make([]reflect.Value, 0, v.Len())
		vals := make([]reflect.Value, 0, v.Len())
		for it := v.MapRange(); it.Next(); {
			k, kc := clean(it.Key(), depth+1)
			e, ec := clean(it.Value(), depth+1)
			changed = changed || kc || ec
			keys, vals = append(keys, k), append(vals, e)
		}
		if !changed {
			return v, false
		}
		// Two keys that differed only in bad bytes may now collide: one
		// value is kept, and the row is flagged as sanitised anyway.
		out := reflect.MakeMapWithSize(v.Type(), len(keys))
		for i, k := range keys {
			out.SetMapIndex(k, vals[i])
		}
		return out, true
	}
	return v, false
}

// textFree reports whether values of t can hold no string: numbers,
// booleans, lists of them, and structs without exported fields (time.Time).
func textFree(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128,
		reflect.Func, reflect.Chan, reflect.UnsafePointer:
		return true
	case reflect.Slice, reflect.Array:
		return textFree(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if t.Field(i).IsExported() {
				return false
			}
		}
		return true
	}
	return false
}

// Error names the first string that cannot be stored and why.
type Error struct {
	// Path is where the string is, by JSON names: "data.receiver.name",
	// "[2].id" in a list, `headers["x-id"]` for a map entry, "" for v
	// itself.
	Path   string
	Reason string
}

func (e *Error) Error() string {
	if e.Path == "" {
		return e.Reason
	}
	return e.Path + ": " + e.Reason
}

// Check walks v as Clean does and returns an *Error for the first string
// that cannot be stored, nil if every one can. Struct fields are visited in
// order and map entries by sorted key, so the answer is stable.
func Check(v any) error {
	if v == nil {
		return nil
	}
	return check(reflect.ValueOf(v), "", 0)
}

func check(v reflect.Value, path string, depth int) error {
	if depth > maxDepth || textFree(v.Type()) {
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		if p := Problem(v.String()); p != "" {
			return &Error{Path: path, Reason: p}
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return check(v.Elem(), path, depth+1)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, embedded := fieldName(f)
			p := path
			if !embedded {
				p = join(path, name)
			}
			if err := check(v.Field(i), p, depth+1); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if err := check(v.Index(i), path+"["+strconv.Itoa(i)+"]", depth+1); err != nil {
				return err
			}
		}
	case reflect.Map:
		keys := v.MapKeys()
		if v.Type().Key().Kind() == reflect.String {
			slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		}
		for _, k := range keys {
			kp := path + "[" + keyString(k) + "]"
			if k.Kind() == reflect.String {
				if p := Problem(k.String()); p != "" {
					return &Error{Path: kp, Reason: "key " + p}
				}
			}
			if err := check(v.MapIndex(k), kp, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// fieldName is f's JSON name; embedded is true for an untagged embedded
// struct, whose fields JSON promotes.
func fieldName(f reflect.StructField) (name string, embedded bool) {
	tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	switch {
	case tag != "" && tag != "-":
		return tag, false
	case f.Anonymous && tag == "":
		return "", true
	}
	return f.Name, false
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// keyString quotes a map key; quoting escapes whatever is wrong in it, so
// the path itself is always printable and storable.
func keyString(k reflect.Value) string {
	if k.Kind() == reflect.String {
		return strconv.Quote(k.String())
	}
	return strconv.Quote(fmt.Sprint(k.Interface()))
}
