package douyin

import (
	"encoding/json"
	"fmt"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms/wire"
)

// tagOf is the tag a sender uses for each mapped kind (the reverse of tags).
var tagOf = func() map[order.Kind]string {
	m := map[order.Kind]string{}
	for tag, info := range tags {
		if info.Kind != "" {
			m[info.Kind] = tag
		}
	}
	return m
}()

// MessageFrom builds the Douyin message that Parse maps back to e, for
// simulators and tests: the tag of e.Kind, msg_id = e.ID, and in data
// p_id = e.Order.OrderNo, shop_id = e.Data.Shop, the tag's time field =
// e.OccurredAt in unix seconds, the amount in fen, cancel_reason and
// receiver_msg. Integer ids are written as JSON numbers, like Douyin does.
// Facts a Douyin message cannot carry (items, buyer IP …) are left out. It
// fails for kinds Douyin does not push.
func MessageFrom(e order.Event) (Message, error) {
	tag, ok := tagOf[e.Kind]
	if !ok {
		return Message{}, fmt.Errorf("douyin: no tag for kind %q", e.Kind)
	}
	info := tags[tag]
	data := map[string]any{"p_id": idValue(e.Order.OrderNo)}
	if e.Data.Shop != "" {
		data["shop_id"] = idValue(e.Data.Shop)
	}
	if !e.OccurredAt.IsZero() {
		data[info.Time] = e.OccurredAt.Unix()
	}
	if info.Amount != "" && e.Data.Amount != nil {
		data[info.Amount] = int64(*e.Data.Amount)
	}
	if e.Kind == order.KindCancelled && e.Data.Reason != "" {
		data["cancel_reason"] = e.Data.Reason
	}
	if e.Kind == order.KindAddressChanged && e.Data.Receiver != nil {
		r := e.Data.Receiver
		addr, err := marshal(map[string]any{
			"province": map[string]string{"name": r.Province},
			"city":     map[string]string{"name": r.City},
			"town":     map[string]string{"name": r.District},
			"detail":   r.Address,
		})
		if err != nil {
			return Message{}, err
		}
		data["receiver_msg"] = map[string]string{"name": r.Name, "tel": r.Phone, "addr": string(addr)}
	}
	b, err := marshal(data)
	if err != nil {
		return Message{}, err
	}
	return Message{Tag: tag, MsgID: e.ID, Data: b}, nil
}

// idValue writes an all-digit id of at most 18 digits (always an int64) as
// a JSON number, anything else as a string.
func idValue(s string) any {
	if len(s) > 0 && len(s) <= 18 && wire.Digits([]byte(s)) && (s == "0" || s[0] != '0') {
		return json.Number(s)
	}
	return s
}

func marshal(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("douyin: %w", err)
	}
	return b, nil
}
