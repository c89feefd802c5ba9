package pull

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// idString is an id a platform may send as a JSON string or as a JSON
// number. A number keeps its exact decimal text: ids are int64 and must
// never pass through float64.
type idString string

func (s *idString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return fmt.Errorf("id: empty")
	case b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = idString(v)
		return nil
	case string(b) == "null":
		*s = ""
		return nil
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return fmt.Errorf("id %.40q: want a string or a whole number", b)
		}
	}
	*s = idString(b)
	return nil
}
