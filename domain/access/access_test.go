package access

import (
	"context"
	"errors"
	"slices"
	"testing"
)

func TestParseRole(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"ceo", "ops", "warehouse", "cs", "it", "admin"} {
		r, err := ParseRole(name)
		if err != nil || r.String() != name {
			t.Errorf("ParseRole(%q) = %v, %v", name, r, err)
		}
	}
	for _, bad := range []string{"", "Admin", "root", " ops"} {
		if _, err := ParseRole(bad); !errors.Is(err, ErrUnknownRole) {
			t.Errorf("ParseRole(%q) = %v, want ErrUnknownRole", bad, err)
		}
	}
}

func TestScopes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in                 []string
		err                bool
		channel, warehouse string
		allows             bool
	}{
		{in: nil, channel: "douyin", warehouse: "", allows: true},
		{in: []string{"channel=douyin"}, channel: "douyin", warehouse: "HZ-01", allows: true},
		{in: []string{"channel=douyin"}, channel: "tmall", warehouse: "HZ-01", allows: false},
		{in: []string{"warehouse=HZ-01"}, channel: "tmall", warehouse: "HZ-01", allows: true},
		{in: []string{"warehouse=HZ-01"}, channel: "tmall", warehouse: "SH-02", allows: false},
		// An order not assigned to a warehouse yet is in no warehouse scope.
		{in: []string{"warehouse=HZ-01"}, channel: "tmall", warehouse: "", allows: false},
		{in: []string{"warehouse=HZ-01", "warehouse=SH-02"}, channel: "tmall", warehouse: "SH-02", allows: true},
		// Both kinds: one of each must match.
		{in: []string{"channel=douyin", "warehouse=HZ-01"}, channel: "douyin", warehouse: "SH-02", allows: false},
		{in: []string{"channel=douyin", "warehouse=HZ-01"}, channel: "tmall", warehouse: "HZ-01", allows: false},
		{in: []string{"channel=douyin", "warehouse=HZ-01"}, channel: "douyin", warehouse: "HZ-01", allows: true},
		{in: []string{"shop=x"}, err: true},
		{in: []string{"channel="}, err: true},
		{in: []string{"douyin"}, err: true},
	}
	for _, tt := range tests {
		s, err := ParseScopes(tt.in)
		if (err != nil) != tt.err {
			t.Errorf("ParseScopes(%q) error %v, want error %v", tt.in, err, tt.err)
			continue
		}
		if tt.err {
			continue
		}
		if got := s.Allows(tt.channel, tt.warehouse); got != tt.allows {
			t.Errorf("%q allows (%s, %q) = %v, want %v", tt.in, tt.channel, tt.warehouse, got, tt.allows)
		}
		back, _ := ParseScopes(s.Strings())
		if !slices.Equal(back.Strings(), s.Strings()) {
			t.Errorf("%q does not round-trip: %q", tt.in, s.Strings())
		}
	}
}

func TestQueues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		role  Role
		work  []string
		reads []string
	}{
		{CEO, nil, []string{QueueCustomerService, QueueRiskReview, QueueWarehouseHold, QueueLogisticsFollowUp}},
		{Ops, []string{QueueCustomerService, QueueRiskReview, QueueWarehouseHold, QueueLogisticsFollowUp}, nil},
		{Warehouse, []string{QueueWarehouseHold, QueueLogisticsFollowUp}, nil},
		{CS, []string{QueueCustomerService, QueueLogisticsFollowUp}, nil},
		{IT, nil, nil},
		{Admin, []string{QueueCustomerService, QueueRiskReview, QueueWarehouseHold, QueueLogisticsFollowUp}, nil},
	}
	for _, tt := range tests {
		want := tt.reads
		if want == nil {
			want = tt.work
		}
		if got := tt.role.Queues(); !slices.Equal(got, want) {
			t.Errorf("%s reads %q, want %q", tt.role, got, want)
		}
		for _, q := range []string{QueueCustomerService, QueueRiskReview, QueueWarehouseHold, QueueLogisticsFollowUp, "nope"} {
			if got := tt.role.MayWork(q); got != slices.Contains(tt.work, q) {
				t.Errorf("%s works %s = %v", tt.role, q, got)
			}
		}
	}
}

func TestPersonalData(t *testing.T) {
	t.Parallel()
	want := map[Role]PersonalData{CEO: Masked, Ops: Masked, Warehouse: Masked, CS: OneOrder, IT: Masked, Admin: Unmasked}
	for _, r := range Roles {
		if got := r.PersonalData(); got != want[r] {
			t.Errorf("%s sees %v, want %v", r, got, want[r])
		}
	}
}

func TestPrincipalContext(t *testing.T) {
	t.Parallel()
	if _, ok := FromContext(context.Background()); ok {
		t.Fatal("a principal in an empty context")
	}
	if _, ok := FromContext(WithPrincipal(context.Background(), Principal{Name: "x"})); ok {
		t.Fatal("a principal without a role counts")
	}
	p := Principal{Name: "etl", Role: IT, Via: ViaToken}
	got, ok := FromContext(WithPrincipal(context.Background(), p))
	if !ok || got.Actor() != "token:etl" {
		t.Fatalf("got %+v, %v", got, ok)
	}
}
