package rules

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/expr-lang/expr"
)

// RemoteProvinces are the provinces isRemote reports, matched as prefixes
// of the province name ("新疆维吾尔自治区" matches 新疆).
var RemoteProvinces = []string{"新疆", "西藏", "青海", "内蒙古", "宁夏", "甘肃", "海南"}

// function is one helper registered with expr.Function.
type function struct {
	name  string
	fn    func(params ...any) (any, error)
	types []any
}

// functions are the helpers expressions can call, besides expr's built-ins.
var functions = []function{
	{"containsAny", func(p ...any) (any, error) {
		s, _ := p[0].(string)
		switch ws := p[1].(type) {
		case []string:
			return ContainsAny(s, ws...), nil
		case []any:
			for _, w := range ws {
				w, ok := w.(string)
				if !ok {
					return nil, fmt.Errorf("containsAny: words must be strings, got %T", w)
				}
				if w != "" && strings.Contains(s, w) {
					return true, nil
				}
			}
			return false, nil
		case nil:
			return false, nil
		default:
			return nil, fmt.Errorf("containsAny: want a list of words, got %T", p[1])
		}
	}, []any{new(func(string, []any) bool), new(func(string, []string) bool)}},
	{"hasHouseNumber", func(p ...any) (any, error) {
		return HasHouseNumber(p[0].(string)), nil
	}, []any{new(func(string) bool)}},
	{"validPhone", func(p ...any) (any, error) {
		return ValidPhone(p[0].(string)), nil
	}, []any{new(func(string) bool)}},
	{"minutes", func(p ...any) (any, error) {
		return p[0].(time.Duration).Minutes(), nil
	}, []any{new(func(time.Duration) float64)}},
	{"isRemote", func(p ...any) (any, error) {
		return IsRemote(p[0].(string)), nil
	}, []any{new(func(string) bool)}},
}

func functionOptions() []expr.Option {
	opts := make([]expr.Option, len(functions))
	for i, f := range functions {
		opts[i] = expr.Function(f.name, f.fn, f.types...)
	}
	return opts
}

// ContainsAny reports whether s contains any of the non-empty words.
func ContainsAny(s string, words ...string) bool {
	for _, w := range words {
		if w != "" && strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// houseNumber matches a house number: a numeral (ASCII or full-width
// digit, or Chinese numeral) followed by 号/栋/幢/座/室/楼/单元/弄, a
// letter followed by 栋/幢/座 ("B座"), or digits-digits ("3-2-501").
var houseNumber = regexp.MustCompile(
	`(?:[0-9０-９]|[零〇一二三四五六七八九十百两])\s*(?:号|栋|幢|座|室|楼|单元|弄)` +
		`|[A-Za-zＡ-Ｚａ-ｚ]\s*(?:栋|幢|座)` +
		`|[0-9０-９]\s*[-－—–]\s*[0-9０-９]`)

// HasHouseNumber reports whether address holds a house number (see
// houseNumber).
func HasHouseNumber(address string) bool { return houseNumber.MatchString(address) }

// ValidPhone reports whether phone is a mainland mobile number: 11 digits
// starting 1[3-9]. Spaces, a +86/0086/86 prefix and an extension suffix
// ("-1234" or "转1234", as on platform privacy numbers) are allowed.
func ValidPhone(phone string) bool {
	p := strings.ReplaceAll(strings.TrimSpace(phone), " ", "")
	if i := strings.IndexAny(p, "-转"); i >= 0 {
		ext := p[i:]
		ext = strings.TrimPrefix(strings.TrimPrefix(ext, "-"), "转")
		if ext == "" || len(ext) > 6 || !digits(ext) {
			return false
		}
		p = p[:i]
	}
	for _, prefix := range []string{"+86", "0086", "86"} {
		if len(p) == len(prefix)+11 && strings.HasPrefix(p, prefix) {
			p = p[len(prefix):]
			break
		}
	}
	return len(p) == 11 && p[0] == '1' && p[1] >= '3' && p[1] <= '9' && digits(p)
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// IsRemote reports whether province is one of RemoteProvinces.
func IsRemote(province string) bool {
	province = strings.TrimSpace(province)
	for _, p := range RemoteProvinces {
		if strings.HasPrefix(province, p) {
			return true
		}
	}
	return false
}
