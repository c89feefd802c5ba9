package detect

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/domain/rules"
)

// Feature windows.
const (
	window1h  = time.Hour
	window10m = 10 * time.Minute
)

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
	var paid []Change
	for _, ch := range changes {
		relevant := false
		for _, e := range ch.Events {
			switch e.Kind {
			case order.KindCreated, order.KindPaid, order.KindAddressChanged:
				relevant = true
			}
			if e.Kind == order.KindPaid {
				paid = append(paid, ch)
			}
		}
		if !relevant {
			continue
		}
		t := ch.Twin
		d := t.Details
		at := t.CreatedAt
		add := func(kind, value string, win time.Duration) {
			if value != "" {
				marks = append(marks, mark{kind: kind, value: value, key: t.Key, at: at, win: win})
			}
		}
		add("ip", d.BuyerIP, window1h)
		if r := d.Receiver; r != nil {
			addr := strings.Join([]string{r.Province, r.City, r.District, r.Address}, "|")
			add("phone", r.Phone, window1h)
			add("address", addr, window1h)
			if len(d.Items) > 0 && r.Phone != "" {
				add("phone_address_item", r.Phone+"|"+addr+"|"+d.Items[0].SKU, window10m)
			}
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
			SELECT x.i, (SELECT count(*) FROM feature_marks f
				WHERE f.kind = x.k AND f.value = x.v AND f.at > x.a - make_interval(secs => x.w) AND f.at <= x.a)
			FROM unnest(?::text[], ?::text[], ?::timestamptz[], ?::bigint[]) WITH ORDINALITY AS x(k, v, a, w, i)`,
			pgdialect.Array(kinds), pgdialect.Array(vals), pgdialect.Array(ats), pgdialect.Array(wins))
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
			switch m.kind {
			case "ip":
				f.OrdersFromIP1h = c
			case "phone":
				f.OrdersFromPhone1h = c
			case "address":
				f.OrdersFromAddress1h = c
			case "phone_address_item":
				f.SamePhoneAddressItem10m = c
			}
			out[m.key] = f
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	if err := amounts(ctx, tx, paid, out); err != nil {
		return nil, err
	}
	return out, nil
}

// amounts reads the buyer's and shop's history (this order excluded) and
// adds the order to it, once per order.
func amounts(ctx context.Context, tx bun.Tx, paid []Change, out map[order.Key]rules.Features) error {
	for _, ch := range paid {
		t := ch.Twin
		d := t.Details
		if d.Amount == nil {
			continue
		}
		// Once per order, whatever the redeliveries.
		res, err := tx.ExecContext(ctx, `INSERT INTO feature_marks (kind, value, channel, order_no, at) VALUES ('paid', '', ?, ?, ?) ON CONFLICT DO NOTHING`,
			t.Key.Channel, t.Key.OrderNo, t.CreatedAt)
		if err != nil {
			return fmt.Errorf("amount stats: %w", err)
		}
		fresh, _ := res.RowsAffected()
		f := out[t.Key]
		for _, scope := range []struct {
			name  string
			count *int
			mean  *float64
		}{{"buyer:" + d.BuyerID, &f.BuyerOrderCount, &f.BuyerMeanAmount}, {"shop:" + t.Key.Channel + ":" + d.Shop, &f.ShopOrderCount, &f.ShopMeanAmount}} {
			if scope.name == "buyer:" {
				continue
			}
			var orders, total int64
			_ = tx.QueryRowContext(ctx, `SELECT orders, total FROM amount_stats WHERE scope = ?`, scope.name).Scan(&orders, &total)
			if fresh == 0 && orders > 0 {
				// Already counted: take it back out of its own history.
				orders--
				total -= int64(*d.Amount)
			}
			*scope.count = int(orders)
			if orders > 0 {
				*scope.mean = float64(total) / float64(orders) / 100
			}
			if fresh > 0 {
				if _, err := tx.ExecContext(ctx, `INSERT INTO amount_stats (scope, orders, total) VALUES (?, 1, ?)
					ON CONFLICT (scope) DO UPDATE SET orders = amount_stats.orders + 1, total = amount_stats.total + excluded.total`,
					scope.name, int64(*d.Amount)); err != nil {
					return fmt.Errorf("amount stats: %w", err)
				}
			}
		}
		out[t.Key] = f
	}
	return nil
}
