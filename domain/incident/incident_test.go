package incident

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/towerhq/tower/domain/access"
)

var t0 = time.Date(2026, 11, 11, 21, 30, 0, 0, time.FixedZone("CST", 8*3600))

// at builds member id raised min minutes after t0 (resolved res minutes
// after t0 when res >= 0).
func at(id int64, min float64, res float64) Member {
	m := Member{AlertID: id, Kind: "not_collected", Channel: "tmall", OrderNo: fmt.Sprint("T", id), Shop: "旗舰店",
		Warehouse: "HZ-01", Courier: "SF", Amount: 100_00, At: t0.Add(time.Duration(min * float64(time.Minute)))}
	if res >= 0 {
		m.ResolvedAt = t0.Add(time.Duration(res * float64(time.Minute)))
	}
	return m
}

func ids(cs []Cluster) [][]int64 {
	out := [][]int64{}
	for _, c := range cs {
		out = append(out, c.IDs())
	}
	return out
}

func TestGroup(t *testing.T) {
	t.Parallel()
	cfg := Config{MinMembers: 3, Window: 10 * time.Minute, Quiet: 30 * time.Minute}
	for _, tc := range []struct {
		name string
		ms   []Member
		cut  time.Time
		want [][]int64
	}{
		{"too few alerts make no incident", []Member{at(1, 0, -1), at(2, 1, -1)}, time.Time{}, [][]int64{}},
		{"enough alerts within the window make one", []Member{at(1, 0, -1), at(2, 4, -1), at(3, 9, -1)}, time.Time{}, [][]int64{{1, 2, 3}}},
		{"spread wider than the window make none", []Member{at(1, 0, -1), at(2, 6, -1), at(3, 12, -1)}, time.Time{}, [][]int64{}},
		{"later alerts join while they come within the quiet period",
			[]Member{at(1, 0, -1), at(2, 1, -1), at(3, 2, -1), at(4, 25, -1), at(5, 50, -1)}, time.Time{}, [][]int64{{1, 2, 3, 4, 5}}},
		{"a lone earlier alert within the quiet period leads the run",
			[]Member{at(9, -20, -1), at(1, 0, -1), at(2, 1, -1), at(3, 2, -1)}, time.Time{}, [][]int64{{9, 1, 2, 3}}},
		{"after a quiet gap with every member resolved a new incident begins",
			[]Member{at(1, 0, 5), at(2, 1, 5), at(3, 2, 5), at(4, 60, -1), at(5, 61, -1), at(6, 62, -1)}, time.Time{},
			[][]int64{{1, 2, 3}, {4, 5, 6}}},
		{"after a quiet gap a member still standing keeps the incident going",
			[]Member{at(1, 0, 5), at(2, 1, -1), at(3, 2, 5), at(4, 60, -1)}, time.Time{}, [][]int64{{1, 2, 3, 4}}},
		{"a run below the threshold does not hold a later alert",
			[]Member{at(1, 0, -1), at(2, 1, -1), at(4, 60, -1), at(5, 61, -1), at(6, 62, -1)}, time.Time{}, [][]int64{{4, 5, 6}}},
		{"alerts before the cut (a hand-resolved incident) are history",
			[]Member{at(1, 0, -1), at(2, 1, -1), at(3, 2, -1), at(4, 3, -1), at(5, 4, -1), at(6, 5, -1)}, t0.Add(2 * time.Minute),
			[][]int64{{4, 5, 6}}},
		{"duplicates count once",
			[]Member{at(1, 0, -1), at(1, 0, -1), at(1, 0, -1), at(2, 1, -1)}, time.Time{}, [][]int64{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := ids(Group(cfg, tc.ms, tc.cut)); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Group = %v, want %v", got, tc.want)
			}
		})
	}
}

// Shuffled and duplicated deliveries of the same alerts, some carrying the
// resolution and some not (a raise redelivered after the resolve), give
// the same incidents as the alerts in order.
func TestGroupConverges(t *testing.T) {
	t.Parallel()
	cfg := Config{MinMembers: 4, Window: 10 * time.Minute, Quiet: 20 * time.Minute}
	var ms []Member
	for i := range 40 {
		// Two bursts 2 hours apart, each resolved within the hour.
		base := float64(i%20) * 0.7
		if i >= 20 {
			base += 120
		}
		ms = append(ms, at(int64(i+1), base, base+40))
	}
	want := Group(cfg, ms, time.Time{})
	if len(want) != 2 || len(want[0].Members) != 20 || len(want[1].Members) != 20 {
		t.Fatalf("in order: %v", ids(want))
	}
	for seed := range uint64(200) {
		r := rand.New(rand.NewPCG(seed, 7))
		var got []Member
		for _, m := range ms {
			got = append(got, m)
			for range r.IntN(3) { // duplicates, some without the resolution
				d := m
				if r.IntN(2) == 0 {
					d.ResolvedAt = time.Time{}
				}
				got = append(got, d)
			}
		}
		r.Shuffle(len(got), func(i, j int) { got[i], got[j] = got[j], got[i] })
		if g := Group(cfg, got, time.Time{}); !reflect.DeepEqual(g, want) {
			t.Fatalf("seed %d: %v, want %v", seed, ids(g), ids(want))
		}
	}
}

func TestSettled(t *testing.T) {
	t.Parallel()
	cfg := Config{Quiet: 30 * time.Minute}
	c := Cluster{Members: []Member{at(1, 0, 10), at(2, 5, 20)}, Start: t0, LastSeen: t0.Add(5 * time.Minute)}
	open := Cluster{Members: []Member{at(1, 0, 10), at(2, 5, -1)}, Start: t0, LastSeen: t0.Add(5 * time.Minute)}
	for _, tc := range []struct {
		name string
		c    Cluster
		now  float64
		want bool
	}{
		{"within the quiet period", c, 30, false},
		{"quiet and every member resolved", c, 35, true},
		{"quiet but a member stands", open, 120, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.c.Settled(cfg, t0.Add(time.Duration(tc.now*float64(time.Minute)))); got != tc.want {
				t.Errorf("Settled = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRadiusOf(t *testing.T) {
	t.Parallel()
	a, b, c := at(1, 0, -1), at(2, 0, -1), at(3, 0, -1)
	b.Shop, b.Amount = "专营店", 59_90
	c.Channel, c.Shop, c.Amount = "douyin", "抖音店", 12_34
	again := a // a second alert on order a: counted once
	again.AlertID = 4
	got := RadiusOf([]Member{a, b, c, again})
	want := Radius{Orders: 3, Money: 100_00 + 59_90 + 12_34, Shops: []string{"专营店", "抖音店", "旗舰店"}, Channels: []string{"douyin", "tmall"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("RadiusOf = %+v, want %+v", got, want)
	}
}

func TestCauseOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kind, wh, courier string
		want              string
	}{
		{"not_collected", "HZ-01", "SF", "courier_stopped:HZ-01/SF"},
		{"divergence", "GZ-03", "ZTO", "courier_stopped:GZ-03/ZTO"},
		{"not_collected", "HZ-01", "", ""}, // no courier yet
		{"amount_outlier", "HZ-01", "SF", ""},
	} {
		k, ok := CauseOf(tc.kind, tc.wh, tc.courier)
		if got := map[bool]string{true: k.String(), false: ""}[ok]; got != tc.want {
			t.Errorf("CauseOf(%s, %s, %s) = %q, want %q", tc.kind, tc.wh, tc.courier, got, tc.want)
		}
	}
	if w := (Key{Cause: CourierStopped, Value: "HZ-01/SF"}).Warehouse(); w != "HZ-01" {
		t.Errorf("Warehouse = %q", w)
	}
}

func TestSilent(t *testing.T) {
	t.Parallel()
	cfg := Config{MinSilence: 10 * time.Minute, Lookback: 2 * time.Hour, SilenceFactor: 6, MinEvents: 20}
	now := t0
	ago := func(m int) time.Time { return now.Add(-time.Duration(m) * time.Minute) }
	for _, tc := range []struct {
		name  string
		flows []Flow
		want  []string
	}{
		// 240 events in 2h: usual gap 30s; 6x is 3 min, floored at 10.
		{"a busy channel quiet for 12 minutes while another flows",
			[]Flow{{"tmall", ago(12), 240}, {"douyin", ago(0), 500}}, []string{"tmall"}},
		{"quiet, but not for the minimum", []Flow{{"tmall", ago(8), 240}, {"douyin", ago(0), 500}}, nil},
		// 24 events in 2h: usual gap 5 min, 6x is 30 min.
		{"a slow channel is judged by its own pace",
			[]Flow{{"wechat", ago(20), 24}, {"douyin", ago(0), 500}}, nil},
		{"a slow channel long quiet", []Flow{{"wechat", ago(31), 24}, {"douyin", ago(0), 500}}, []string{"wechat"}},
		{"every channel quiet: nothing flows, nothing is singled out",
			[]Flow{{"tmall", ago(30), 240}, {"douyin", ago(30), 500}}, nil},
		{"too little history to know the usual", []Flow{{"tmall", ago(60), 5}, {"douyin", ago(0), 500}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := Silent(cfg, tc.flows, now); !slices.Equal(got, tc.want) {
				t.Errorf("Silent = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSignatures(t *testing.T) {
	t.Parallel()
	cfg := Config{SignatureFailures: 10, Quiet: 30 * time.Minute}
	if SignatureBreach(cfg, 9) || !SignatureBreach(cfg, 10) {
		t.Error("the threshold is 10 failures within the window")
	}
	if SignatureSettled(cfg, t0, t0.Add(29*time.Minute)) || !SignatureSettled(cfg, t0, t0.Add(30*time.Minute)) {
		t.Error("a signature incident settles after the quiet period without failures")
	}
}

func TestVisibleTo(t *testing.T) {
	t.Parallel()
	hz := Key{Cause: CourierStopped, Value: "HZ-01/SF"}
	sig := Key{Cause: SignatureFailures, Value: "douyin"}
	silent := Key{Cause: ChannelSilent, Value: "tmall"}
	for _, tc := range []struct {
		name     string
		s        access.Scopes
		k        Key
		channels []string
		want     bool
	}{
		{"unlimited sees all", access.Scopes{}, sig, nil, true},
		{"a warehouse sees its own", access.Scopes{Warehouses: []string{"HZ-01"}}, hz, []string{"tmall"}, true},
		{"a warehouse does not see another's", access.Scopes{Warehouses: []string{"GZ-03"}}, hz, []string{"tmall"}, false},
		{"a warehouse does not see a connector's", access.Scopes{Warehouses: []string{"HZ-01"}}, sig, nil, false},
		{"a channel sees its silence", access.Scopes{Channels: []string{"tmall"}}, silent, []string{"tmall"}, true},
		{"a channel sees incidents touching it", access.Scopes{Channels: []string{"tmall"}}, hz, []string{"douyin", "tmall"}, true},
		{"a channel does not see others'", access.Scopes{Channels: []string{"wechat"}}, hz, []string{"tmall"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := VisibleTo(tc.s, tc.k, tc.channels); got != tc.want {
				t.Errorf("VisibleTo = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMove(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		from, to State
		changed  bool
		err      bool
	}{
		{Open, Acknowledged, true, false},
		{Open, Resolved, true, false},
		{Acknowledged, Resolved, true, false},
		{Acknowledged, Acknowledged, false, false},
		{Acknowledged, Open, false, true},
		{Resolved, Open, false, true},
		{Resolved, Resolved, false, true},
	} {
		changed, err := Move(tc.from, tc.to)
		if changed != tc.changed || (err != nil) != tc.err {
			t.Errorf("Move(%s, %s) = %v, %v", tc.from, tc.to, changed, err)
		}
		if tc.from == Resolved && !errors.Is(err, ErrResolved) {
			t.Errorf("Move out of RESOLVED: %v, want ErrResolved", err)
		}
	}
	for _, s := range append(States, Open) {
		if p, err := ParseState(s.String()); err != nil || p != s {
			t.Errorf("ParseState(%s) = %v, %v", s, p, err)
		}
	}
	for _, c := range Causes {
		if p, err := ParseCause(c.String()); err != nil || p != c {
			t.Errorf("ParseCause(%s) = %v, %v", c, p, err)
		}
	}
}

// BenchmarkGroup groups an exception storm's alerts of one cause (5,000
// orders not collected within an hour), as every alert message of the
// storm makes internal/incidents do.
func BenchmarkGroup(b *testing.B) {
	ms := make([]Member, 5000)
	for i := range ms {
		ms[i] = at(int64(i+1), float64(i)*60/5000, -1)
	}
	b.ReportAllocs()
	for b.Loop() {
		if len(Group(Config{}, ms, time.Time{})) != 1 {
			b.Fatal("want one incident")
		}
	}
}
