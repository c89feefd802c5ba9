package rules

import (
	"slices"
	"testing"
)

func TestPersonalNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr string
		want []string
	}{
		{`twin.has("wms.outbound")`, nil},
		{`order.amount > 100 && order.receiver.province == "新疆"`, nil},
		{`isRemote(order.receiver.province) || order.receiver.city == "拉萨市"`, nil},
		{`features.ordersFromPhone1h > 5`, nil},
		{`order.receiver.phone startsWith "1380"`, []string{"order.receiver.phone"}},
		{`order.receiver?.phone[3:4] == "0"`, []string{"order.receiver.phone"}},
		{`!hasHouseNumber(order.receiver.address)`, []string{"order.receiver.address"}},
		{`order.buyerIp == "1.2.3.4" || order.buyerId == "x"`, []string{"order.buyerId", "order.buyerIp"}},
		{`order.receiver.name == "张三"`, []string{"order.receiver.name"}},
		// The whole order or receiver handed on reads all of it.
		{`toJSON(order) contains "1380"`, []string{"order"}},
		{`toJSON(order.receiver) contains "1380"`, []string{"order.receiver.*"}},
		{`let r = order.receiver; r.phone == "x"`, []string{"order.receiver.*"}},
		{`order["rec" + "eiver"].phone == "x"`, []string{"order"}},
		{`order.receiver["ph" + "one"] == "x"`, []string{"order.receiver.*"}},
		{`any([order], #.receiver.phone == "x")`, []string{"order"}},
		{`$env.order.receiver.phone == "x"`, []string{"$env"}},
	}
	for _, tt := range tests {
		got, err := PersonalNames(tt.expr)
		if err != nil {
			t.Errorf("%s: %v", tt.expr, err)
			continue
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("PersonalNames(%s) = %q, want %q", tt.expr, got, tt.want)
		}
	}
	if _, err := PersonalNames(`order.receiver.phone ==`); err == nil {
		t.Error("a broken expression gave no error")
	}
}

// Every default rule that reads personal data is listed, so that nobody
// without the right to see it is surprised by a refusal when editing it.
func TestDefaultsPersonal(t *testing.T) {
	t.Parallel()
	var personal []string
	for _, r := range Defaults() {
		names, err := PersonalNames(r.Expression)
		if err != nil {
			t.Fatal(err)
		}
		if len(names) > 0 {
			personal = append(personal, r.Name)
		}
	}
	if len(personal) == 0 || len(personal) > 4 {
		t.Fatalf("default rules reading personal data: %q", personal)
	}
}
