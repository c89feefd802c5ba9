package simulator

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/towerhq/tower/domain/order"
)

// SyncClock asks a Tower in simulation mode to run its clock from the
// simulated day's start at the play's speed, so deadlines fall due in
// simulated time. It reports whether the server agreed.
func SyncClock(ctx context.Context, target string, start time.Time, speed float64) (bool, error) {
	var out struct {
		Errors []struct{ Message string } `json:"errors"`
	}
	err := graphql(ctx, target, `mutation($s: Float!, $at: Time) { setClockSpeed(speed: $s, at: $at) { speed } }`,
		map[string]any{"s": speed, "at": start.Format(time.RFC3339Nano)}, &out)
	if err != nil {
		return false, err
	}
	return len(out.Errors) == 0, nil
}

func graphql(ctx context.Context, target, query string, vars map[string]any, out any) error {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target+"/graphql", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if tok := os.Getenv("TOWER_TOKEN"); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("graphql: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("graphql: HTTP %d: %s", resp.StatusCode, b)
	}
	return json.Unmarshal(b, out)
}

// reported is an alert as Tower reported it.
type reported struct {
	Kind           string    `json:"kind"`
	RaisedAt       time.Time `json:"raisedAt"`
	ConditionSince time.Time `json:"conditionSince"`
	Order          struct {
		Channel string `json:"channel"`
		OrderNo string `json:"orderNo"`
	} `json:"order"`
}

// FetchAlerts reads every alert Tower reports, through its GraphQL API.
func FetchAlerts(ctx context.Context, target string) ([]reported, error) {
	var all []reported
	var after any
	for {
		var out struct {
			Data struct {
				Alerts struct {
					Edges []struct {
						Node reported `json:"node"`
					} `json:"edges"`
					PageInfo struct {
						HasNextPage bool   `json:"hasNextPage"`
						EndCursor   string `json:"endCursor"`
					} `json:"pageInfo"`
				} `json:"alerts"`
			} `json:"data"`
			Errors []struct{ Message string } `json:"errors"`
		}
		err := graphql(ctx, target, `query($after: String) { alerts(first: 500, after: $after) {
			edges { node { kind raisedAt conditionSince order { channel orderNo } } } pageInfo { hasNextPage endCursor } } }`,
			map[string]any{"after": after}, &out)
		if err != nil {
			return nil, err
		}
		if len(out.Errors) > 0 {
			return nil, fmt.Errorf("alerts: %s", out.Errors[0].Message)
		}
		for _, e := range out.Data.Alerts.Edges {
			all = append(all, e.Node)
		}
		if !out.Data.Alerts.PageInfo.HasNextPage {
			return all, nil
		}
		after = out.Data.Alerts.PageInfo.EndCursor
	}
}

// expected maps a ground-truth kind to the alert kinds that catch it.
var expected = map[string][]string{
	"vague_address":            {"suspicious_address"},
	"ip_burst":                 {"ip_burst"},
	"amount_outlier":           {"amount_outlier"},
	"refund_after_outbound":    {"refund_after_outbound"},
	"address_change_after_wms": {"address_change_after_wms"},
	"not_collected":            {"not_collected"},
	"fake_outbound":            {"not_collected"},
}

// ScoreRow is one line of the score table.
type ScoreRow struct {
	Kind               string
	Truth, Found       int
	FalseAlarms        int
	Recall             float64
	MedianLatency, P90 time.Duration
}

// Score compares what Tower reported with the ground truth.
func Score(truthFile string, alerts []reported) ([]ScoreRow, int, int, error) {
	f, err := os.Open(truthFile)
	if err != nil {
		return nil, 0, 0, err
	}
	defer f.Close()
	truths := map[string]map[order.Key]time.Time{} // kind -> order -> since
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var o Order
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			return nil, 0, 0, fmt.Errorf("truth: %w", err)
		}
		for _, t := range o.Truths {
			if truths[t.Kind] == nil {
				truths[t.Kind] = map[order.Key]time.Time{}
			}
			truths[t.Kind][o.Key] = t.Since
		}
	}
	if err := sc.Err(); err != nil {
		return nil, 0, 0, err
	}
	byKind := map[string]map[order.Key]reported{}
	flagged := map[order.Key]bool{}
	for _, a := range alerts {
		k := order.Key{Channel: a.Order.Channel, OrderNo: a.Order.OrderNo}
		if byKind[a.Kind] == nil {
			byKind[a.Kind] = map[order.Key]reported{}
		}
		if prev, ok := byKind[a.Kind][k]; !ok || a.RaisedAt.Before(prev.RaisedAt) {
			byKind[a.Kind][k] = a
		}
		flagged[k] = true
	}
	var rows []ScoreRow
	falseTotal := 0
	kinds := make([]string, 0, len(expected))
	for k := range expected {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, tk := range kinds {
		row := ScoreRow{Kind: tk, Truth: len(truths[tk])}
		var lat []time.Duration
		for k, since := range truths[tk] {
			for _, ak := range expected[tk] {
				if a, ok := byKind[ak][k]; ok {
					row.Found++
					lat = append(lat, a.RaisedAt.Sub(since))
					break
				}
			}
		}
		// False alarms: alerts of this kind on orders the truth does not
		// give any kind that this alert kind catches.
		for _, ak := range expected[tk] {
			for k := range byKind[ak] {
				caught := false
				for tk2, ks := range expected {
					if slices.Contains(ks, ak) {
						if _, ok := truths[tk2][k]; ok {
							caught = true
						}
					}
				}
				if !caught && tk == firstTruthKind(ak) {
					row.FalseAlarms++
				}
			}
		}
		falseTotal += row.FalseAlarms
		if row.Truth > 0 {
			row.Recall = float64(row.Found) / float64(row.Truth)
		}
		if len(lat) > 0 {
			slices.Sort(lat)
			row.MedianLatency, row.P90 = lat[len(lat)/2], lat[len(lat)*9/10]
		}
		rows = append(rows, row)
	}
	return rows, falseTotal, len(flagged), nil
}

func firstTruthKind(alertKind string) string {
	var ks []string
	for tk, as := range expected {
		if slices.Contains(as, alertKind) {
			ks = append(ks, tk)
		}
	}
	sort.Strings(ks)
	if len(ks) == 0 {
		return ""
	}
	return ks[0]
}

// PrintScore writes the table.
func PrintScore(w io.Writer, rows []ScoreRow, falseAlarms, flagged int) {
	fmt.Fprintf(w, "%-26s %7s %7s %8s %8s %12s %12s\n", "kind", "truth", "found", "recall", "false", "median", "p90")
	fmt.Fprintln(w, strings.Repeat("-", 86))
	for _, r := range rows {
		fmt.Fprintf(w, "%-26s %7d %7d %7.1f%% %8d %12s %12s\n", r.Kind, r.Truth, r.Found, 100*r.Recall, r.FalseAlarms,
			r.MedianLatency.Round(time.Second), r.P90.Round(time.Second))
	}
	pct := 0.0
	if flagged > 0 {
		pct = 100 * float64(falseAlarms) / float64(flagged)
	}
	fmt.Fprintf(w, "false alarms: %d of %d flagged orders (%.1f%%)\n", falseAlarms, flagged, pct)
}
