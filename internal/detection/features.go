package detection

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/domain/rules"
	"github.com/towerhq/tower/domain/twin"
)

// Feature windows.
const (
	window1h  = time.Hour
	window10m = 10 * time.Minute
)

// maxWindowCount caps a window count. Rules compare counts with small
// thresholds, and a hot value (a platform's masked phone number, a company
// address) would otherwise cost a count over thousands of marks per order.
const maxWindowCount = 1000

// markSpec is a value an order leaves to be counted in a window.
type markSpec struct {
	kind, value string
	win         time.Duration
}

// orderMarks are the marks of an order (at its creation time): its buyer
// IP, receiver phone, address, and phone+address+main item.
func orderMarks(t *twin.Twin) []markSpec {
	var out []markSpec
	add := func(kind, value string, win time.Duration) {
		if value != "" {
			out = append(out, markSpec{kind: kind, value: value, win: win})
		}
	}
	d := t.Details
	add("ip", d.BuyerIP, window1h)
	if r := d.Receiver; r != nil {
		addr := strings.Join([]string{r.Province, r.City, r.District, r.Address}, "|")
		add("phone", r.Phone, window1h)
		add("address", addr, window1h)
		if len(d.Items) > 0 && r.Phone != "" {
			add("phone_address_item", r.Phone+"|"+addr+"|"+d.Items[0].SKU, window10m)
		}
	}
	return out
}

// amountScopes names the amount histories a paid order belongs to (buyer
// and sku empty when unknown).
func amountScopes(t *twin.Twin) (buyer, shop, sku string) {
	shop = "shop:" + t.Key.Channel + ":" + t.Details.Shop
	if t.Details.BuyerID != "" {
		buyer = "buyer:" + t.Details.BuyerID
	}
	// The main item's own history: ten of a cheap item can stay under
	// three times the shop's mean and still be far from any usual basket.
	if len(t.Details.Items) > 0 && t.Details.Items[0].SKU != "" {
		sku = "sku:" + t.Key.Channel + ":" + t.Details.Shop + ":" + t.Details.Items[0].SKU
	}
	return buyer, shop, sku
}

// setFeature stores a window count under the mark's kind.
func setFeature(f *rules.Features, kind string, n int) {
	switch kind {
	case "ip":
		f.OrdersFromIP1h = n
	case "phone":
		f.OrdersFromPhone1h = n
	case "address":
		f.OrdersFromAddress1h = n
	case "phone_address_item":
		f.SamePhoneAddressItem10m = n
	}
}

// features computes the stateful features of the orders that a batch
// created or paid, incrementally: each such order leaves marks (its IP,
// phone, address, phone+address+item) and its amount in running per-buyer
// and per-shop sums; the counts are then index lookups over the marks of
// the window, never a scan of history.
func features(ctx context.Context, tx bun.Tx, changes []Change) (map[order.Key]rules.Features, error) {
	out := map[order.Key]rules.Features{}
	type mark struct {
		idx         int
		kind, value string
		key         order.Key
		at          time.Time
		win         time.Duration
	}
	var marks []mark
	var priced []Change
	paid := map[order.Key]bool{}
	for _, ch := range changes {
		relevant, price := false, false
		for _, e := range ch.Events {
			switch e.Kind {
			case order.KindCreated, order.KindPaid, order.KindAddressChanged:
				relevant = true
			}
			switch e.Kind {
			case order.KindCreated, order.KindPaid:
				price = true
			}
			if e.Kind == order.KindPaid {
				paid[ch.Twin.Key] = true
			}
		}
		if price {
			priced = append(priced, ch)
		}
		if !relevant {
			continue
		}
		t := ch.Twin
		for _, m := range orderMarks(t) {
			marks = append(marks, mark{kind: m.kind, value: m.value, key: t.Key, at: t.CreatedAt, win: m.win})
		}
		out[t.Key] = rules.Features{}
	}
	if len(marks) > 0 {
		n := len(marks)
		kinds, vals, chs, nos := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		ats := make([]time.Time, n)
		wins := make([]int64, n)
		for i, m := range marks {
			kinds[i], vals[i], chs[i], nos[i], ats[i], wins[i] = m.kind, m.value, m.key.Channel, m.key.OrderNo, m.at, int64(m.win/time.Second)
		}
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO feature_marks (kind, value, channel, order_no, at)
			SELECT * FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::timestamptz[]) AS x(k, v, c, n, a) ORDER BY k, v, c, n
			ON CONFLICT DO NOTHING`,
			pgdialect.Array(kinds), pgdialect.Array(vals), pgdialect.Array(chs), pgdialect.Array(nos), pgdialect.Array(ats)); err != nil {
			return nil, fmt.Errorf("feature marks: %w", err)
		}
		rows, err := tx.QueryContext(ctx, `
			SELECT x.i, (SELECT count(*) FROM (SELECT FROM feature_marks f
				WHERE f.kind = x.k AND f.value = x.v AND f.at > x.a - make_interval(secs => x.w) AND f.at <= x.a
				LIMIT ?) capped)
			FROM unnest(?::text[], ?::text[], ?::timestamptz[], ?::bigint[]) WITH ORDINALITY AS x(k, v, a, w, i)`,
			maxWindowCount, pgdialect.Array(kinds), pgdialect.Array(vals), pgdialect.Array(ats), pgdialect.Array(wins))
		if err != nil {
			return nil, fmt.Errorf("feature counts: %w", err)
		}
		for rows.Next() {
			var i, c int
			if err := rows.Scan(&i, &c); err != nil {
				rows.Close()
				return nil, err
			}
			m := marks[i-1]
			f := out[m.key]
			setFeature(&f, m.kind, c)
			out[m.key] = f
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	if err := amounts(ctx, tx, priced, paid, out); err != nil {
		return nil, err
	}
	return out, nil
}

// amounts reads the buyers', shops' and items' history (the order itself
// excluded) for orders created or paid in the batch, and adds the newly
// paid ones to it, once per order, in three statements for the whole
// batch. An order is judged from its creation (its amount is known then);
// only a payment makes it history.
func amounts(ctx context.Context, tx bun.Tx, priced []Change, paid map[order.Key]bool, out map[order.Key]rules.Features) error {
	type po struct {
		key              order.Key
		amount           int64
		buyer, shop, sku string
		counted          bool // already in its histories before this batch
	}
	var ps []po
	var chs, nos []string
	var ats []time.Time
	for _, ch := range priced {
		t := ch.Twin
		if t.Details.Amount == nil {
			continue
		}
		p := po{key: t.Key, amount: int64(*t.Details.Amount)}
		p.buyer, p.shop, p.sku = amountScopes(t)
		if paid[t.Key] {
			chs, nos, ats = append(chs, t.Key.Channel), append(nos, t.Key.OrderNo), append(ats, t.CreatedAt)
		} else {
			// Paid in an earlier batch: its payment is on the twin.
			_, p.counted = t.FirstAt(order.KindPaid)
		}
		ps = append(ps, p)
	}
	if len(ps) == 0 {
		return nil
	}
	// Which payments are counted for the first time (redeliveries are not).
	fresh := map[order.Key]bool{}
	if len(chs) > 0 {
		if err := freshPayments(ctx, tx, chs, nos, ats, fresh); err != nil {
			return err
		}
	}
	for i := range ps {
		if paid[ps[i].key] {
			ps[i].counted = !fresh[ps[i].key]
		}
	}
	scopes := map[string]bool{}
	for _, p := range ps {
		scopes[p.shop] = true
		for _, sc := range []string{p.buyer, p.sku} {
			if sc != "" {
				scopes[sc] = true
			}
		}
	}
	names := make([]string, 0, len(scopes))
	for n := range scopes {
		names = append(names, n)
	}
	stats := map[string]stat{}
	rows, err := tx.QueryContext(ctx, `SELECT scope, orders, total FROM amount_stats WHERE scope = ANY(?::text[])`, pgdialect.Array(names))
	if err != nil {
		return fmt.Errorf("amount stats: %w", err)
	}
	for rows.Next() {
		var n string
		var st stat
		if err := rows.Scan(&n, &st.orders, &st.total); err != nil {
			rows.Close()
			return err
		}
		stats[n] = st
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	add := map[string]stat{}
	for _, p := range ps {
		f := out[p.key]
		for _, sc := range []struct {
			name  string
			count *int
			mean  *float64
		}{
			{p.buyer, &f.BuyerOrderCount, &f.BuyerMeanAmount},
			{p.shop, &f.ShopOrderCount, &f.ShopMeanAmount},
			{p.sku, &f.SKUOrderCount, &f.SKUMeanAmount},
		} {
			if sc.name == "" {
				continue
			}
			st := stats[sc.name]
			if p.counted && st.orders > 0 {
				// Already counted: take it back out of its own history.
				st.orders--
				st.total -= p.amount
			}
			*sc.count = int(st.orders)
			if st.orders > 0 {
				*sc.mean = float64(st.total) / float64(st.orders) / 100
			}
			if fresh[p.key] {
				a := add[sc.name]
				a.orders++
				a.total += p.amount
				add[sc.name] = a
			}
		}
		out[p.key] = f
	}
	if len(add) > 0 {
		var an []string
		var ao, at []int64
		for n, a := range add {
			an, ao, at = append(an, n), append(ao, a.orders), append(at, a.total)
		}
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO amount_stats (scope, orders, total) SELECT * FROM unnest(?::text[], ?::bigint[], ?::bigint[]) AS x(s, o, t) ORDER BY s
			ON CONFLICT (scope) DO UPDATE SET orders = amount_stats.orders + excluded.orders, total = amount_stats.total + excluded.total`,
			pgdialect.Array(an), pgdialect.Array(ao), pgdialect.Array(at)); err != nil {
			return fmt.Errorf("amount stats: %w", err)
		}
	}
	return nil
}

// freshPayments records the payments of the orders named by chs/nos and
// sets fresh[k] for those recorded now for the first time.
func freshPayments(ctx context.Context, tx bun.Tx, chs, nos []string, ats []time.Time, fresh map[order.Key]bool) error {
	rows, err := tx.QueryContext(ctx, `
		INSERT INTO feature_marks (kind, value, channel, order_no, at)
		SELECT 'paid', '', c, n, a FROM unnest(?::text[], ?::text[], ?::timestamptz[]) AS x(c, n, a) ORDER BY c, n
		ON CONFLICT DO NOTHING RETURNING channel, order_no`, pgdialect.Array(chs), pgdialect.Array(nos), pgdialect.Array(ats))
	if err != nil {
		return fmt.Errorf("amount stats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k order.Key
		if err := rows.Scan(&k.Channel, &k.OrderNo); err != nil {
			return err
		}
		fresh[k] = true
	}
	return rows.Err()
}
