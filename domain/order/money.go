package order

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Money is an amount in fen (1/100 yuan). Kept integral so sums and
// comparisons are exact; JSON is a decimal string ("129.90") or number.
type Money int64

// ParseMoney reads "129.9", "129.90" or "130" as yuan.
func ParseMoney(s string) (Money, error) {
	s = strings.TrimSpace(s)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" && frac == "" || len(frac) > 2 || strings.ContainsAny(whole+frac, "+-") {
		return 0, fmt.Errorf("money %q: want a decimal with at most 2 places", s)
	}
	if whole == "" {
		whole = "0"
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w > 1e13 {
		return 0, fmt.Errorf("money %q: want a decimal with at most 2 places", s)
	}
	for len(frac) < 2 {
		frac += "0"
	}
	f, err := strconv.ParseInt(frac, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("money %q: want a decimal with at most 2 places", s)
	}
	m := Money(w*100 + f)
	if neg {
		m = -m
	}
	return m, nil
}

func (m Money) String() string {
	sign := ""
	v := int64(m)
	if v < 0 {
		sign, v = "-", -v
	}
	return fmt.Sprintf("%s%d.%02d", sign, v/100, v%100)
}

// Yuan is the amount as a float, for rules and charts only.
func (m Money) Yuan() float64 { return float64(m) / 100 }

func (m Money) MarshalJSON() ([]byte, error) { return []byte(`"` + m.String() + `"`), nil }

func (m *Money) UnmarshalJSON(b []byte) error {
	var s string
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	} else {
		s = string(b)
	}
	v, err := ParseMoney(s)
	if err != nil {
		return err
	}
	*m = v
	return nil
}
