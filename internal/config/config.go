// Package config loads Tower's configuration from a YAML file, the
// environment and flags (in that order of precedence, lowest first), and
// validates it with one clear message per bad value.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/towerhq/tower/domain/notify"
	"github.com/towerhq/tower/internal/platforms"
	"github.com/towerhq/tower/internal/platforms/registry"
)

// Config is everything `tower serve` needs.
type Config struct {
	// Mode is dev (default), production or simulation. Only simulation lets
	// a client speed the clock up; production refuses development secrets.
	Mode     string `yaml:"mode"`
	HTTPAddr string `yaml:"http_addr"`
	// ClockSpeed, in simulation mode, starts the scaled clock at this many
	// simulated seconds per real second (0: real speed until a client sets
	// it). Refused in other modes.
	ClockSpeed float64 `yaml:"clock_speed"`
	// DebugAddr, when set, serves Go's profiler (/debug/pprof/) on its own
	// listener, which should stay on a private interface.
	DebugAddr   string `yaml:"debug_addr"`
	DatabaseURL string `yaml:"database_url"`
	// DataDir holds the project-local PostgreSQL when DatabaseURL is empty.
	DataDir string `yaml:"data_dir"`
	Bus     string `yaml:"bus"`
	// BusRetention is how long bus messages are kept once every durable
	// consumer has them (canonical events stay in order_events); 0 keeps
	// them forever.
	BusRetention time.Duration `yaml:"bus_retention"`
	// NATSURL is the NATS server (several: comma-separated) when Bus is
	// nats; NATSPrefix namespaces Tower's streams and subjects on it, and
	// NATSAckWait is how long a delivery may go silent before the broker
	// hands it to another node.
	NATSURL     string        `yaml:"nats_url"`
	NATSPrefix  string        `yaml:"nats_prefix"`
	NATSAckWait time.Duration `yaml:"nats_ack_wait"`
	// NodeName identifies this process on the bus (live fan-out consumer group).
	NodeName  string    `yaml:"node_name"`
	LogFormat string    `yaml:"log_format"`
	LogLevel  string    `yaml:"log_level"`
	Ingest    Ingest    `yaml:"ingest"`
	GraphQL   GraphQL   `yaml:"graphql"`
	Sources   []Source  `yaml:"sources"`
	Simulator Simulator `yaml:"simulator"`
	Notify    Notify    `yaml:"notifications"`
	Figures   Figures   `yaml:"figures"`
	Incidents Incidents `yaml:"incidents"`
	// PublicURL is how people reach this server (links in robot messages).
	PublicURL string `yaml:"public_url"`
	Auth      Auth   `yaml:"auth"`
}

// Auth configures logins, sessions and the audit log.
type Auth struct {
	// SessionTTL ends a browser session this long after login;
	// SessionIdle after this long without a request.
	SessionTTL  time.Duration `yaml:"session_ttl"`
	SessionIdle time.Duration `yaml:"session_idle"`
	// SecureCookies sends the session cookie over HTTPS only; by default
	// on when public_url is https.
	SecureCookies *bool `yaml:"secure_cookies"`
	// AuditRetention is how long audit entries are kept.
	AuditRetention time.Duration `yaml:"audit_retention"`
	// MetricsNetworks may read /metrics without a token (CIDRs; default
	// loopback only). Elsewhere /metrics needs an it or admin API token.
	MetricsNetworks []string `yaml:"metrics_networks"`
	// TrustedProxies are reverse proxies (CIDRs) whose X-Forwarded-For
	// names the caller, for login throttling and the audit log.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// RevalidateEvery rechecks open websockets' credentials, so that a
	// token revoked on another node or by the command line closes them.
	RevalidateEvery time.Duration `yaml:"revalidate_every"`
	// DemoAccounts seeds one account per role with a development
	// password (dev and simulation modes; production refuses it).
	DemoAccounts *bool `yaml:"demo_accounts"`
}

// Demo reports whether demo accounts are seeded: by default outside
// production.
func (a Auth) Demo(mode string) bool {
	if a.DemoAccounts != nil {
		return *a.DemoAccounts
	}
	return mode != "production"
}

// Secure reports whether the session cookie is Secure.
func (c Config) SecureCookies() bool {
	if c.Auth.SecureCookies != nil {
		return *c.Auth.SecureCookies
	}
	return strings.HasPrefix(c.PublicURL, "https://")
}

// Notify configures where alerts are sent.
type Notify struct {
	Channels      []NotifyChannel `yaml:"channels"`
	Routes        []NotifyRoute   `yaml:"routes"`
	GroupWindow   time.Duration   `yaml:"group_window"`
	EscalateAfter time.Duration   `yaml:"escalate_after"`
	EscalateTo    string          `yaml:"escalate_to"`
}

// NotifyChannel is one group robot (see notify.Channel); the API stores
// more of them.
type NotifyChannel = notify.Channel

// NotifyRoute sends matching alerts to a channel (see notify.Route).
type NotifyRoute = notify.Route

// Simulator runs the live-stream simulator inside `tower serve`, so a fresh
// install shows a living dashboard. Never in production.
type Simulator struct {
	Enabled bool `yaml:"enabled"`
	// OrdersPerDay and Speed (simulated seconds per real second) make it
	// gentle by default.
	OrdersPerDay int     `yaml:"orders_per_day"`
	Speed        float64 `yaml:"speed"`
	// PullAddr serves the fake channel order-list APIs the sources'
	// pull_url point at.
	PullAddr string `yaml:"pull_addr"`
	// WechatpayPrivateKey signs simulated WeChat Pay notifications; in dev
	// a throwaway pair is made next to platform_public_key_file.
	WechatpayPrivateKey string `yaml:"wechatpay_private_key"`
}

// Ingest tunes group commit.
type Ingest struct {
	// MaxBodyBytes bounds one webhook body; larger gets 413.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// BatchWait is how long the first webhook of a micro-batch waits for
	// company before the shared transaction commits.
	BatchWait time.Duration `yaml:"batch_wait"`
	// MaxBatchEvents caps the events of one commit.
	MaxBatchEvents int `yaml:"max_batch_events"`
	// StoreBodies keeps raw bodies for audit and replay (on by default).
	StoreBodies *bool `yaml:"store_bodies"`
	// Refused deliveries (failed signature, malformed, too large) are
	// audited at most RefusedPerSecond per source (bursts of RefusedBurst),
	// without the body of an unverified sender past its first KiB, and
	// kept RefusedRetention.
	RefusedPerSecond float64       `yaml:"refused_per_second"`
	RefusedBurst     int           `yaml:"refused_burst"`
	RefusedRetention time.Duration `yaml:"refused_retention"`
}

// GraphQL tunes the API.
type GraphQL struct {
	// AllowedOrigins for websocket upgrades; empty means same host only.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// BacklogPushInterval is the coalescing period of backlogChanged.
	BacklogPushInterval time.Duration `yaml:"backlog_push_interval"`
	// BacklogPushBudget bounds the backlogChanged frames per second a node
	// sends all its subscribers together: past it, each is pushed less
	// often than BacklogPushInterval (0: no bound).
	BacklogPushBudget int           `yaml:"backlog_push_budget"`
	KeepAlive         time.Duration `yaml:"keep_alive"`
	// StatementTimeout cancels an API query (or backtest statement) that
	// runs longer; the API has its own small connection pool.
	StatementTimeout time.Duration `yaml:"statement_timeout"`
}

// Source is one configured ingest source, reached at POST /webhooks/{name}.
// The keys every source has are here; the rest of its sources[] entry is
// its type's own section, which the type's platform decodes and checks
// (internal/platforms/registry).
type Source struct {
	Name    string `yaml:"name"`
	Type    string `yaml:"type"`
	Channel string `yaml:"channel"`
	// Reconciliation: channel sources may name their platform's order-list
	// API; Tower pulls it every ReconcileEvery, reaching back
	// ReconcileOverlap before the previous window's end.
	PullURL          string        `yaml:"pull_url"`
	ReconcileEvery   time.Duration `yaml:"reconcile_every"`
	ReconcileOverlap time.Duration `yaml:"reconcile_overlap"`
	ReconcileGrace   time.Duration `yaml:"reconcile_grace"`
	// Settings are the type's own keys (douyin.Settings, ...); nil reads
	// as an empty section.
	Settings platforms.Settings `yaml:"-"`
}

// commonKeys are the keys of Source itself.
var commonKeys = func() map[string]bool {
	keys := map[string]bool{}
	for f := range reflect.TypeFor[Source]().Fields() {
		if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); name != "-" {
			keys[name] = true
		}
	}
	return keys
}()

// UnmarshalYAML reads the common keys, and hands the others to the type's
// platform, which refuses a key it does not know. An unknown type keeps no
// section: Validate reports the type.
func (s *Source) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a source is a mapping of keys", n.Line)
	}
	common := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: n.Line, Column: n.Column}
	section := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: n.Line, Column: n.Column}
	for i := 0; i+1 < len(n.Content); i += 2 {
		to := section
		if commonKeys[n.Content[i].Value] {
			to = common
		}
		to.Content = append(to.Content, n.Content[i], n.Content[i+1])
	}
	type plain Source // without this method
	var c plain
	if err := common.Decode(&c); err != nil {
		return err
	}
	*s = Source(c)
	p, ok := registry.Lookup(s.Type)
	if !ok {
		return nil
	}
	settings, err := p.Decode(section)
	if err != nil {
		return fmt.Errorf("source %q: %w", s.Name, err)
	}
	s.Settings = settings
	return nil
}

// Spec is the source as its platform sees it.
func (s Source) Spec() platforms.Spec {
	return platforms.Spec{Name: s.Name, Channel: s.Channel, PullURL: s.PullURL, Settings: s.Settings}
}

// natsPrefix is what a stream and subject namespace may be.
var natsPrefix = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// Default is the configuration with every default filled in.
func Default() Config {
	host, _ := os.Hostname()
	return Config{
		Mode:         "dev",
		HTTPAddr:     "127.0.0.1:8080",
		DataDir:      ".data",
		Bus:          "postgres",
		BusRetention: 72 * time.Hour,
		NATSPrefix:   "tower",
		NATSAckWait:  10 * time.Second,
		NodeName:     host,
		LogFormat:    "text",
		LogLevel:     "info",
		Ingest: Ingest{
			MaxBodyBytes:   4 << 20,
			BatchWait:      2 * time.Millisecond,
			MaxBatchEvents: 5000,
			// An honest sender with a wrong key retries a few times a
			// second at most; that much is enough to diagnose it.
			RefusedPerSecond: 5, RefusedBurst: 50, RefusedRetention: 7 * 24 * time.Hour,
		},
		Simulator: Simulator{OrdersPerDay: 20000, Speed: 20, PullAddr: "127.0.0.1:9090"},
		Auth: Auth{
			SessionTTL: 12 * time.Hour, SessionIdle: 2 * time.Hour, AuditRetention: 365 * 24 * time.Hour,
			MetricsNetworks: []string{"127.0.0.0/8", "::1/128"}, RevalidateEvery: 5 * time.Second,
		},
		GraphQL: GraphQL{
			BacklogPushInterval: 250 * time.Millisecond,
			BacklogPushBudget:   4000,
			KeepAlive:           15 * time.Second,
			StatementTimeout:    10 * time.Second,
		},
		Figures: defaultFigures(),
	}
}

// Load reads file (may be empty), then the environment (getenv). The caller
// applies flags on top, then calls Validate.
func Load(file string, getenv func(string) string) (Config, error) {
	c := Default()
	if file == "" {
		file = getenv("TOWER_CONFIG")
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return c, fmt.Errorf("config: read %s: %w", file, err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		// An empty file decodes to io.EOF: it simply sets nothing.
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			return c, fmt.Errorf("config: %s: %w", file, err)
		}
	}
	if err := c.applyEnv(getenv); err != nil {
		return c, err
	}
	return c, nil
}

func (c *Config) applyEnv(getenv func(string) string) error {
	str := map[string]*string{
		"TOWER_MODE":        &c.Mode,
		"TOWER_HTTP_ADDR":   &c.HTTPAddr,
		"TOWER_DEBUG_ADDR":  &c.DebugAddr,
		"DATABASE_URL":      &c.DatabaseURL,
		"TOWER_DATA_DIR":    &c.DataDir,
		"TOWER_BUS":         &c.Bus,
		"NATS_URL":          &c.NATSURL,
		"TOWER_NATS_PREFIX": &c.NATSPrefix,
		"TOWER_NODE_NAME":   &c.NodeName,
		"TOWER_LOG_FORMAT":  &c.LogFormat,
		"TOWER_LOG_LEVEL":   &c.LogLevel,
	}
	for k, p := range str {
		if v := getenv(k); v != "" {
			*p = v
		}
	}
	// Tower's own name wins over the one NATS tools share.
	if v := getenv("TOWER_NATS_URL"); v != "" {
		c.NATSURL = v
	}
	if v := getenv("TOWER_INGEST_BATCH_WAIT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("config: TOWER_INGEST_BATCH_WAIT=%q: want a duration like 2ms", v)
		}
		c.Ingest.BatchWait = d
	}
	for k, p := range map[string]*time.Duration{
		"TOWER_AUTH_SESSION_TTL": &c.Auth.SessionTTL, "TOWER_AUTH_SESSION_IDLE": &c.Auth.SessionIdle,
		"TOWER_AUTH_AUDIT_RETENTION": &c.Auth.AuditRetention,
	} {
		if v := getenv(k); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("config: %s=%q: want a duration like 12h", k, v)
			}
			*p = d
		}
	}
	if v := getenv("TOWER_AUTH_METRICS_NETWORKS"); v != "" {
		c.Auth.MetricsNetworks = strings.Split(v, ",")
	}
	if v := getenv("TOWER_INGEST_MAX_BODY_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("config: TOWER_INGEST_MAX_BODY_BYTES=%q: want a byte count", v)
		}
		c.Ingest.MaxBodyBytes = n
	}
	// Each type reads its own overrides: TOWER_SOURCE_<NAME>_<KEY>, name
	// upper-cased with '-' as '_' (see platforms.SourceVar).
	for i := range c.Sources {
		s := &c.Sources[i]
		p, ok := registry.Lookup(s.Type)
		if !ok {
			continue // Validate reports the type
		}
		settings, err := p.Settings(s.Spec())
		if err == nil {
			settings, err = settings.WithEnv(platforms.Env{Source: s.Name, Getenv: getenv})
		}
		if err != nil {
			return fmt.Errorf("config: sources[%d] (%s): %w", i, s.Name, err)
		}
		s.Settings = settings
	}
	for i := range c.Notify.Channels {
		ch := &c.Notify.Channels[i]
		if ch.WebhookURLEnv != "" {
			ch.WebhookURL = getenv(ch.WebhookURLEnv)
		}
		if ch.SecretEnv != "" {
			ch.Secret = getenv(ch.SecretEnv)
		}
	}
	return nil
}

var sourceName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// Validate returns every problem at once, one line each.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, a...)))
	}
	switch c.Mode {
	case "dev", "production", "simulation":
	default:
		bad("mode", "%q is not one of dev, production, simulation", c.Mode)
	}
	listenAddr := func(key, addr string) {
		if _, port, err := net.SplitHostPort(addr); err != nil {
			bad(key, "%q is not host:port (%v)", addr, err)
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			bad(key, "port %q is not a number between 0 and 65535", port)
		}
	}
	listenAddr("http_addr", c.HTTPAddr)
	if c.ClockSpeed != 0 && c.Mode != "simulation" {
		bad("clock_speed", "only a server in mode: simulation runs a scaled clock (mode is %q)", c.Mode)
	} else if c.ClockSpeed < 0 || c.ClockSpeed > 100_000 {
		bad("clock_speed", "%g: want 0 (real speed) up to 100000", c.ClockSpeed)
	}
	if c.DebugAddr != "" {
		listenAddr("debug_addr", c.DebugAddr)
	}
	if c.DatabaseURL != "" {
		u, err := url.Parse(c.DatabaseURL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			bad("database_url", "want postgres://user@host:port/db, got a value that does not parse as one")
		}
	} else if c.Mode == "production" {
		bad("database_url", "required in production mode (the project-local PostgreSQL is for development)")
	}
	switch c.Bus {
	case "postgres":
	case "nats":
		if c.NATSURL == "" {
			bad("nats_url", "required with bus: nats (nats://host:4222, or several comma-separated)")
		}
		for _, raw := range strings.Split(c.NATSURL, ",") {
			u, err := url.Parse(strings.TrimSpace(raw))
			if c.NATSURL != "" && (err != nil || u.Host == "" || !slices.Contains([]string{"nats", "tls", "ws", "wss"}, u.Scheme)) {
				bad("nats_url", "want nats://host:port (or tls://, ws://, wss://), got a value that does not parse as one")
				break
			}
		}
		if !natsPrefix.MatchString(c.NATSPrefix) {
			bad("nats_prefix", "%q: want lower-case letters, digits, - or _, starting with a letter, at most 32", c.NATSPrefix)
		}
		if c.NATSAckWait < time.Second || c.NATSAckWait > 10*time.Minute {
			bad("nats_ack_wait", "%s is outside 1s..10m", c.NATSAckWait)
		}
	default:
		bad("bus", "%q is not one of postgres, nats", c.Bus)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		bad("log_format", "%q is not one of text, json", c.LogFormat)
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		bad("log_level", "%q is not one of debug, info, warn, error", c.LogLevel)
	}
	if c.NodeName == "" {
		bad("node_name", "required (defaults to the host name)")
	}
	if c.Ingest.RefusedPerSecond < 0 || c.Ingest.RefusedBurst < 0 {
		bad("ingest.refused_per_second", "refused_per_second and refused_burst may not be negative")
	}
	if c.Ingest.RefusedRetention < time.Hour {
		bad("ingest.refused_retention", "%s is below 1h", c.Ingest.RefusedRetention)
	}
	if c.Ingest.MaxBodyBytes < 1024 || c.Ingest.MaxBodyBytes > 64<<20 {
		bad("ingest.max_body_bytes", "%d is outside 1KiB..64MiB", c.Ingest.MaxBodyBytes)
	}
	if c.Ingest.BatchWait < 0 || c.Ingest.BatchWait > time.Second {
		bad("ingest.batch_wait", "%s is outside 0..1s", c.Ingest.BatchWait)
	}
	if c.Ingest.MaxBatchEvents < 1 || c.Ingest.MaxBatchEvents > 50000 {
		bad("ingest.max_batch_events", "%d is outside 1..50000", c.Ingest.MaxBatchEvents)
	}
	if c.BusRetention < 0 || (c.BusRetention > 0 && c.BusRetention < time.Hour) {
		bad("bus_retention", "%s: want 0 (keep forever) or at least 1h", c.BusRetention)
	}
	if c.GraphQL.StatementTimeout < 0 {
		bad("graphql.statement_timeout", "%s is negative", c.GraphQL.StatementTimeout)
	}
	if c.GraphQL.BacklogPushBudget < 0 {
		bad("graphql.backlog_push_budget", "%d is negative", c.GraphQL.BacklogPushBudget)
	}
	if c.GraphQL.BacklogPushInterval < 10*time.Millisecond {
		bad("graphql.backlog_push_interval", "%s is below 10ms", c.GraphQL.BacklogPushInterval)
	}
	if c.Auth.SessionTTL < time.Minute || c.Auth.SessionIdle < time.Minute {
		bad("auth.session_ttl", "session_ttl and session_idle must be at least 1m")
	}
	if c.Auth.AuditRetention < 24*time.Hour {
		bad("auth.audit_retention", "%s is below 24h", c.Auth.AuditRetention)
	}
	if c.Auth.RevalidateEvery < 100*time.Millisecond || c.Auth.RevalidateEvery > time.Minute {
		bad("auth.revalidate_every", "%s is outside 100ms..1m", c.Auth.RevalidateEvery)
	}
	for key, nets := range map[string][]string{"auth.metrics_networks": c.Auth.MetricsNetworks, "auth.trusted_proxies": c.Auth.TrustedProxies} {
		if _, err := ParsePrefixes(nets); err != nil {
			bad(key, "%v", err)
		}
	}
	if c.Mode == "production" && c.Auth.Demo(c.Mode) {
		bad("auth.demo_accounts", "demo accounts never exist in production mode")
	}
	errs = append(errs, c.Figures.check()...)
	if c.Simulator.Enabled && c.Mode == "production" {
		bad("simulator.enabled", "the simulator never runs in production mode")
	}
	if c.Simulator.Enabled && (c.Simulator.OrdersPerDay < 1 || c.Simulator.Speed <= 0) {
		bad("simulator", "orders_per_day and speed must be positive")
	}
	chans := map[string]bool{}
	for i, ch := range c.Notify.Channels {
		key := fmt.Sprintf("notifications.channels[%d]", i)
		if ch.Name == "" || chans[ch.Name] {
			bad(key+".name", "%q: required and unique", ch.Name)
		}
		chans[ch.Name] = true
		if ch.Type != "wecom" && ch.Type != "dingtalk" {
			bad(key+".type", "%q is not one of wecom, dingtalk", ch.Type)
		}
		if u, err := url.Parse(ch.WebhookURL); ch.WebhookURL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			bad(key+".webhook_url", "an http(s) robot URL is required (or webhook_url_env)")
		}
	}
	for i, r := range c.Notify.Routes {
		if !chans[r.Channel] {
			bad(fmt.Sprintf("notifications.routes[%d].channel", i), "%q is not a configured channel", r.Channel)
		}
	}
	if c.Notify.EscalateTo != "" && !chans[c.Notify.EscalateTo] {
		bad("notifications.escalate_to", "%q is not a configured channel", c.Notify.EscalateTo)
	}
	seen := map[string]bool{}
	for i, s := range c.Sources {
		key := fmt.Sprintf("sources[%d]", i)
		if !sourceName.MatchString(s.Name) {
			bad(key+".name", "%q: want lower-case letters, digits, '-' or '_', up to 32", s.Name)
		}
		if seen[s.Name] {
			bad(key+".name", "%q is configured twice", s.Name)
		}
		seen[s.Name] = true
		p, known := registry.Lookup(s.Type)
		if !known {
			bad(key+".type", "%q is not a known source type (known: %s)", s.Type, strings.Join(registry.Types(), ", "))
		}
		if s.PullURL != "" {
			if u, err := url.Parse(s.PullURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad(key+".pull_url", "%q is not an http(s) URL", s.PullURL)
			}
			if known && !p.Pulls() {
				bad(key+".pull_url", "type %s has no order list to reconcile with (types that have one: %s)", s.Type, strings.Join(registry.Pulling(), ", "))
			}
		}
		if s.ReconcileEvery < 0 || (s.ReconcileEvery > 0 && s.ReconcileEvery < time.Second) {
			bad(key+".reconcile_every", "%s: want at least 1s (default 5m)", s.ReconcileEvery)
		}
		if known {
			for _, pr := range p.Check(s.Spec(), c.Mode == "production") {
				bad(key+"."+pr.Key, "%s", pr.Msg)
			}
		}
		if c.Mode == "production" {
			for _, v := range secretValues(s.Settings) {
				if shippedSecrets[v] {
					bad(key, "source %q uses a secret published in Tower's repository (the example configuration or its tests); production needs its own", s.Name)
					break
				}
			}
		}
	}
	if err := c.Incidents.Config().Validate(); err != nil {
		bad("incidents", "%v", err)
	}
	return errors.Join(errs...)
}

// SlogLevel is the parsed log level.
func (c *Config) SlogLevel() slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(c.LogLevel))
	return l
}

// Redacted is a copy safe to log: secrets and the database password hidden.
func (c Config) Redacted() Config {
	r := c
	r.Sources = slices.Clone(c.Sources)
	for i, src := range r.Sources {
		if src.Settings != nil {
			r.Sources[i].Settings = src.Settings.Redacted()
		}
	}
	if c.Notify.Channels != nil {
		r.Notify.Channels = make([]NotifyChannel, len(c.Notify.Channels))
	}
	for i, ch := range c.Notify.Channels {
		if ch.WebhookURL != "" {
			ch.WebhookURL = "REDACTED"
		}
		if ch.Secret != "" {
			ch.Secret = "REDACTED"
		}
		r.Notify.Channels[i] = ch
	}
	if u, err := url.Parse(c.DatabaseURL); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "REDACTED")
			r.DatabaseURL = u.String()
		}
	}
	if c.NATSURL != "" {
		urls := strings.Split(c.NATSURL, ",")
		for i, raw := range urls {
			// A token alone (nats://token@host) is a secret too.
			if u, err := url.Parse(strings.TrimSpace(raw)); err == nil && u.User != nil {
				if _, has := u.User.Password(); has {
					u.User = url.UserPassword(u.User.Username(), "REDACTED")
				} else {
					u.User = url.User("REDACTED")
				}
				urls[i] = u.String()
			}
		}
		r.NATSURL = strings.Join(urls, ",")
	}
	return r
}

// ParsePrefixes reads CIDRs (a bare address is a /32 or /128).
func ParsePrefixes(ss []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(ss))
	for _, s := range ss {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR or an address", s)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}
