package architecture

import (
	"go/scanner"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// owners is the one package that writes each table (module-relative).
// A new table needs an entry: decide who owns it.
var owners = map[string]string{
	// Webhooks as received, and the canonical events they carried.
	"webhook_receipts":   "internal/ingest",
	"webhook_deliveries": "internal/ingest",
	"order_events":       "internal/ingest",
	"reconcile_runs":     "internal/reconcile",
	// The twins and what the projection keeps to build them.
	"orders":             "internal/projection",
	"stage_counts":       "internal/projection",
	"parked_events":      "internal/projection",
	"tracking_numbers":   "internal/projection",
	"projected_messages": "internal/projection",
	// Rules and what detection keeps to evaluate them.
	"rules":              "internal/detection",
	"rule_versions":      "internal/detection",
	"rules_revision":     "internal/detection",
	"rule_hits":          "internal/detection",
	"deadline_overrides": "internal/detection",
	"feature_marks":      "internal/detection",
	"amount_stats":       "internal/detection",
	"timers":             "internal/timers",
	"alerts":             "internal/alerts",
	"incidents":          "internal/incidents",
	"incident_members":   "internal/incidents",
	"work_items":         "internal/workitems",
	// Figures rolled up with the twins, and customer-service lookups.
	"figure_rollups":  "internal/figures",
	"traffic_rollups": "internal/figures",
	"figure_open":     "internal/figures",
	"figure_settings": "internal/figures",
	"order_lookups":   "internal/figures",
	// Notification settings made through the API, and the delivery log.
	"silences":                "internal/storage",
	"notification_channels":   "internal/storage",
	"notification_routes":     "internal/storage",
	"notification_revision":   "internal/storage",
	"notification_deliveries": "internal/notifications",
	"notification_outbox":     "internal/notifications",
	// Accounts, sessions and API tokens; the audit log of who did what.
	"users":      "internal/auth",
	"sessions":   "internal/auth",
	"api_tokens": "internal/auth",
	"audit_log":  "internal/audit",
	// The NATS bus's outbox, written in the publishers' transactions
	// through events.Bus and forwarded by it.
	"bus_outbox": "events",
}

// busOwner writes the bus tables (watermill_*), through watermill-sql.
const busOwner = "events"

var (
	createTable = regexp.MustCompile(`(?i)CREATE TABLE (?:IF NOT EXISTS )?"?([a-z_0-9]+)`)
	// Statements in SQL string literals; "DO UPDATE SET" and "FOR UPDATE
	// OF" name no table and are skipped by the keyword check.
	sqlWrite = regexp.MustCompile(`(?i)\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?([a-z_0-9%\[\]]+)`)
	// bun's query builder: a named table, or a model declared in the package.
	bunTable = regexp.MustCompile(`New(?:Insert|Update|Delete)\(\)(?:\s*\.\s*\w+\([^)]*\))*?\s*\.\s*Table(?:Expr)?\("([a-z_0-9]+)"`)
	bunModel = regexp.MustCompile(`New(?:Insert|Update|Delete)\(\)\s*\.\s*Model\(`)
	modelTag = regexp.MustCompile("bun:\"table:([a-z_0-9]+)")
)

var notTables = map[string]bool{"set": true, "of": true}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root not at %s: %v", root, err)
	}
	return root
}

// writes finds, per table, the packages whose (non-test) code writes it.
func writes(t *testing.T, root string) map[string]map[string]bool {
	t.Helper()
	out := map[string]map[string]bool{}
	add := func(table, pkg string) {
		if out[table] == nil {
			out[table] = map[string]bool{}
		}
		out[table][pkg] = true
	}
	pkgModels := map[string][]string{}
	usesModel := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			switch rel {
			case ".git", ".data", "webapp", "migrations", filepath.Join("graph", "generated"):
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		pkg := filepath.ToSlash(filepath.Dir(rel))
		for _, lit := range stringLiterals(src) {
			for _, m := range sqlWrite.FindAllStringSubmatch(lit, -1) {
				table := strings.ToLower(m[1])
				if notTables[table] {
					continue
				}
				add(table, pkg)
			}
		}
		for _, m := range bunTable.FindAllSubmatch(src, -1) {
			add(string(m[1]), pkg)
		}
		for _, m := range modelTag.FindAllSubmatch(src, -1) {
			pkgModels[pkg] = append(pkgModels[pkg], string(m[1]))
		}
		if bunModel.Match(src) {
			usesModel[pkg] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A model write is taken to write every model table of its package:
	// coarse, but it can only widen what the test sees.
	for pkg := range usesModel {
		if len(pkgModels[pkg]) == 0 {
			t.Errorf("%s writes a bun model but declares none; name the table", pkg)
		}
		for _, table := range pkgModels[pkg] {
			add(table, pkg)
		}
	}
	return out
}

// stringLiterals returns the Go string literals of src, unquoted: SQL lives
// there, never in comments.
func stringLiterals(src []byte) []string {
	fset := token.NewFileSet()
	file := fset.AddFile("", fset.Base(), len(src))
	var s scanner.Scanner
	s.Init(file, src, nil, 0)
	var out []string
	for {
		_, tok, lit := s.Scan()
		if tok == token.EOF {
			return out
		}
		if tok == token.STRING {
			if u, err := strconv.Unquote(lit); err == nil {
				out = append(out, u)
			}
		}
	}
}

func tables(t *testing.T, root string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "migrations", "*.up.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations under %s: %v", root, err)
	}
	set := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range createTable.FindAllStringSubmatch(string(b), -1) {
			set[m[1]] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

func TestEveryTableHasAnOwner(t *testing.T) {
	for _, table := range tables(t, repoRoot(t)) {
		if strings.HasPrefix(table, "watermill_") {
			continue
		}
		if owners[table] == "" {
			t.Errorf("table %s has no owner in owners", table)
		}
	}
}

// historyGenerator writes a synthetic history straight into a bench
// database of its own (tower bench --scale: refused on a database holding
// real data), consistent by construction and checked against the owners'
// own rebuild in its tests; going through each owner would take hours for
// ten million orders.
const historyGenerator = "internal/bench"

func TestOnlyTheOwnerWritesATable(t *testing.T) {
	root := repoRoot(t)
	found := writes(t, root)
	known := map[string]bool{}
	for _, table := range tables(t, root) {
		known[table] = true
	}
	for _, table := range slices.Sorted(maps.Keys(found)) {
		pkgs := slices.Sorted(maps.Keys(found[table]))
		owner := owners[table]
		if strings.HasPrefix(table, "watermill_") {
			owner = busOwner
		}
		if owner == "" {
			if known[table] {
				t.Errorf("table %s, written by %v, has no owner", table, pkgs)
			}
			continue // not a table of ours (a temporary or a word in a message)
		}
		for _, pkg := range pkgs {
			if pkg != owner && pkg != historyGenerator {
				t.Errorf("table %s is written by %s; only its owner %s may write it (ask the owner instead)", table, pkg, owner)
			}
		}
	}
	// The scan must see the writes it is meant to police.
	for _, table := range []string{"orders", "alerts", "work_items", "order_events", "silences", "notification_deliveries"} {
		if !found[table][owners[table]] {
			t.Errorf("no write to %s found in %s: the scan misses it", table, owners[table])
		}
	}
}
