package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
)

// Print writes the report as one table.
func (r *Report) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v, goal string) { fmt.Fprintf(tw, "%s\t%s\t%s\n", k, v, goal) }
	m := r.Machine
	fmt.Fprintf(w, "\nTower bench on %d CPUs (%s), %.1f GiB, PostgreSQL %s, %s\n\n", m.CPUs, m.CPUModel, m.MemoryGiB, m.PostgreSQL, m.Go)
	if r.Scale != nil {
		r.Scale.print(tw, row)
		_ = tw.Flush()
		for _, n := range r.Notes {
			fmt.Fprintln(w, "note:", n)
		}
		return
	}
	row("figure", "measured", "goal")
	row("nodes (in this process, one PostgreSQL)", fmt.Sprintf("%d, bus: %s", max(r.Nodes, 1), r.Bus), "")
	row("raw ceiling, 50 events per commit ("+r.CeilingBy+")", fmt.Sprintf("%.0f rows/s", r.RawCeilingRowsPerS), "")
	row("raw ceiling, 1 event per commit", fmt.Sprintf("%.0f rows/s", r.RawCeilingSingleRowsPer), "")
	row("pipeline at saturation (20-event webhooks, until projected)", fmt.Sprintf("%.0f events/s", r.SaturationEventsPerS), "")
	row("  ratio to the batched ceiling", fmt.Sprintf("%.2f", r.SaturationRatio), "≥ 0.30")
	row("  acknowledged at", fmt.Sprintf("%.0f events/s", r.IngestEventsPerS), "")
	row("  CPU seconds per 1,000 events", fmt.Sprintf("%.3f", r.CPUSecondsPer1000), "")
	row("single-event webhooks at saturation", fmt.Sprintf("%.0f events/s", r.SingleEventsPerS), "")
	row("  ratio to the one-per-commit ceiling", fmt.Sprintf("%.2f", r.SingleRatio), "≥ 2")
	row(fmt.Sprintf("fixed load (target %d events/s)", r.FixedLoadTarget), fmt.Sprintf("%.0f events/s", r.FixedLoadEventsPerS), "")
	row("  acknowledgement p50 / p99", fmt.Sprintf("%.1f / %.1f ms", r.AckP50Ms, r.AckP99Ms), "p99 ≤ 25 ms at 5,000/s")
	row("  event → push p50 / p99", fmt.Sprintf("%.1f / %.1f ms (%d probes)", r.PushP50Ms, r.PushP99Ms, r.PushProbes), "p99 ≤ 250 ms")
	row("subscribers open", fmt.Sprintf("%d (%.0f MiB of heap)", r.Subscribers, float64(r.Subscribers)*r.BytesPerSubscription/(1<<20)), "10,000 in ≤ 0.5 GiB")
	sides := "both ends"
	if r.SubscribersApart {
		sides = "the node's side"
	}
	row("  heap per subscription ("+sides+")", fmt.Sprintf("%.1f KiB", r.BytesPerSubscription/1024), "≤ 52 KiB")
	row("  frames per subscriber during fixed load", fmt.Sprintf("%.1f (for %d events)", r.FramesPerSubscriber, r.EventsDuringFixedLoad), "≪ events")
	_ = tw.Flush()
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note:", n)
	}
}

// Write saves the report as JSON in dir and returns the file's path.
func (r *Report) Write(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	p := filepath.Join(dir, "bench-"+r.StartedAt.UTC().Format("20060102T150405Z")+".json")
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	return p, os.WriteFile(p, append(b, '\n'), 0o644)
}

func (s *ScaleReport) print(tw io.Writer, row func(k, v, goal string)) {
	row("history", fmt.Sprintf("%d orders, %d events (%.1f per order), %.1f GiB", s.Orders, s.Events, s.EventsPerOrder, float64(s.DatabaseBytes)/(1<<30)), "")
	if s.Reused {
		row("  generation", "reused from an earlier run (ends "+s.HistoryEnd.Format("2006-01-02 15:04 MST")+")", "")
	} else {
		row("  generation", fmt.Sprintf("%.0f s: %.0f orders/s, %.0f events/s (indexes %.0f s)", s.GenerationS, s.GenerationPerS, s.GenerationEventsS, s.IndexS), "")
	}
	row("query (role)", "p50 / p95 / p99 ms", "goal")
	for _, q := range s.Queries {
		goal := "p95 ≤ 50 ms"
		if q.Kind == "lookup" {
			goal = "p99 ≤ 10 ms"
		}
		row("  "+q.Name+" ("+q.Role+")", fmt.Sprintf("%.1f / %.1f / %.1f  [%s]", q.P50Ms, q.P95Ms, q.P99Ms, q.Result), goal)
	}
	row("load average (1 min) at start / end", fmt.Sprintf("%.1f / %.1f", s.LoadAverage[0], s.LoadAverage[1]), "")
	row("slowest view p95", fmt.Sprintf("%.1f ms", s.ViewsP95Ms), "≤ 50 ms")
	row("slowest lookup p99", fmt.Sprintf("%.1f ms", s.LookupsP99Ms), "≤ 10 ms")
}
