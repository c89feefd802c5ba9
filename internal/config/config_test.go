package config_test

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/towerhq/tower/domain/figures"
	"github.com/towerhq/tower/internal/config"
	"github.com/towerhq/tower/internal/platforms/douyin"
	"github.com/towerhq/tower/internal/platforms/kuaidi100"
	"github.com/towerhq/tower/internal/platforms/qimen"
	"github.com/towerhq/tower/internal/platforms/standard"
	"github.com/towerhq/tower/internal/platforms/tmall"
	"github.com/towerhq/tower/internal/platforms/wechatpay"
)

// fakeEnv is a getenv over a map; missing keys read as "".
func fakeEnv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// validSource is a standard source that passes Validate.
func validSource(name string) config.Source {
	return config.Source{Name: name, Type: "standard", Settings: standard.Settings{Secrets: []string{"whsec_test"}}}
}

// secretsOf are a standard source's secrets.
func secretsOf(t *testing.T, s config.Source) []string {
	t.Helper()
	st, ok := s.Settings.(standard.Settings)
	if !ok {
		t.Fatalf("source %s: settings %T, want standard.Settings", s.Name, s.Settings)
	}
	return st.Secrets
}

func TestLoad(t *testing.T) {
	def := config.Default()

	type tc struct {
		name string
		// yaml is written to config.yaml unless noFile; "{{dir}}" is replaced
		// by the test's temporary directory.
		yaml   string
		noFile bool
		// viaEnv passes the file through TOWER_CONFIG instead of the argument.
		viaEnv bool
		// files are extra files written next to config.yaml.
		files   map[string]string
		env     map[string]string
		wantErr []string
		check   func(t *testing.T, c config.Config)
	}
	tests := []tc{
		{
			name:   "no file and no environment gives the defaults",
			noFile: true,
			check: func(t *testing.T, c config.Config) {
				if !reflect.DeepEqual(c, def) {
					t.Errorf("got %+v, want defaults %+v", c, def)
				}
			},
		},
		{
			name: "empty file sets nothing",
			yaml: "",
			check: func(t *testing.T, c config.Config) {
				if !reflect.DeepEqual(c, def) {
					t.Errorf("got %+v, want defaults %+v", c, def)
				}
			},
		},
		{
			name: "comments-only file sets nothing",
			yaml: "# nothing here\n\n",
			check: func(t *testing.T, c config.Config) {
				if !reflect.DeepEqual(c, def) {
					t.Errorf("got %+v, want defaults %+v", c, def)
				}
			},
		},
		{
			name: "file values",
			yaml: `
mode: simulation
http_addr: "0.0.0.0:9000"
database_url: "postgres://tower@db:5432/tower"
bus: postgres
node_name: node-a
log_format: json
log_level: debug
ingest:
  max_body_bytes: 2048
  batch_wait: 5ms
  max_batch_events: 10
  store_bodies: false
graphql:
  allowed_origins: ["https://a.example"]
  backlog_push_interval: 1s
  keep_alive: 30s
sources:
  - name: erp
    type: standard
    channel: web
    secrets: ["whsec_one", "whsec_two"]
`,
			check: func(t *testing.T, c config.Config) {
				f := false
				want := def
				want.Mode = "simulation"
				want.HTTPAddr = "0.0.0.0:9000"
				want.DatabaseURL = "postgres://tower@db:5432/tower"
				want.NodeName = "node-a"
				want.LogFormat = "json"
				want.LogLevel = "debug"
				want.Ingest = config.Ingest{MaxBodyBytes: 2048, BatchWait: 5 * time.Millisecond, MaxBatchEvents: 10, StoreBodies: &f,
					RefusedPerSecond: 5, RefusedBurst: 50, RefusedRetention: 7 * 24 * time.Hour}
				want.GraphQL = config.GraphQL{AllowedOrigins: []string{"https://a.example"}, BacklogPushInterval: time.Second, BacklogPushBudget: 4000, KeepAlive: 30 * time.Second, StatementTimeout: 10 * time.Second}
				want.Sources = []config.Source{{Name: "erp", Type: "standard", Channel: "web", Settings: standard.Settings{Secrets: []string{"whsec_one", "whsec_two"}}}}
				if !reflect.DeepEqual(c, want) {
					t.Errorf("got  %+v\nwant %+v", c, want)
				}
			},
		},
		{
			name: "partial file keeps the other defaults",
			yaml: "ingest:\n  batch_wait: 7ms\n",
			check: func(t *testing.T, c config.Config) {
				want := def
				want.Ingest.BatchWait = 7 * time.Millisecond
				if !reflect.DeepEqual(c, want) {
					t.Errorf("got  %+v\nwant %+v", c, want)
				}
			},
		},
		{
			name:   "file named by TOWER_CONFIG",
			yaml:   "http_addr: \":7000\"\n",
			viaEnv: true,
			check: func(t *testing.T, c config.Config) {
				if c.HTTPAddr != ":7000" {
					t.Errorf("HTTPAddr = %q, want :7000", c.HTTPAddr)
				}
			},
		},
		{
			name: "environment overrides the file",
			yaml: `
mode: dev
http_addr: "127.0.0.1:9000"
database_url: "postgres://file@db/tower"
data_dir: file-data
bus: nats
nats_url: "nats://file:4222"
node_name: file-node
log_format: text
log_level: debug
ingest:
  batch_wait: 5ms
  max_body_bytes: 2048
`,
			env: map[string]string{
				"TOWER_MODE":                  "production",
				"TOWER_HTTP_ADDR":             "127.0.0.1:9100",
				"DATABASE_URL":                "postgres://env@db/tower",
				"TOWER_DATA_DIR":              "env-data",
				"TOWER_BUS":                   "postgres",
				"NATS_URL":                    "nats://env:4222",
				"TOWER_NATS_URL":              "nats://tower-env:4222",
				"TOWER_NATS_PREFIX":           "staging",
				"TOWER_NODE_NAME":             "env-node",
				"TOWER_LOG_FORMAT":            "json",
				"TOWER_LOG_LEVEL":             "warn",
				"TOWER_INGEST_BATCH_WAIT":     "9ms",
				"TOWER_INGEST_MAX_BODY_BYTES": "4096",
			},
			check: func(t *testing.T, c config.Config) {
				want := def
				want.Mode = "production"
				want.HTTPAddr = "127.0.0.1:9100"
				want.DatabaseURL = "postgres://env@db/tower"
				want.DataDir = "env-data"
				want.Bus = "postgres"
				want.NATSURL = "nats://tower-env:4222" // TOWER_NATS_URL wins over NATS_URL
				want.NATSPrefix = "staging"
				want.NodeName = "env-node"
				want.LogFormat = "json"
				want.LogLevel = "warn"
				want.Ingest.BatchWait = 9 * time.Millisecond
				want.Ingest.MaxBodyBytes = 4096
				if !reflect.DeepEqual(c, want) {
					t.Errorf("got  %+v\nwant %+v", c, want)
				}
			},
		},
		{
			name: "file value stays when its variable is unset or empty",
			yaml: "log_level: debug\nhttp_addr: \":9000\"\n",
			env:  map[string]string{"TOWER_LOG_LEVEL": "", "TOWER_MODE": "simulation"},
			check: func(t *testing.T, c config.Config) {
				if c.LogLevel != "debug" || c.HTTPAddr != ":9000" || c.Mode != "simulation" {
					t.Errorf("got log_level %q http_addr %q mode %q", c.LogLevel, c.HTTPAddr, c.Mode)
				}
			},
		},
		{
			name:    "unknown key is an error naming the key",
			yaml:    "mode: dev\nbogus_key: 1\n",
			wantErr: []string{"bogus_key"},
		},
		{
			name:    "unknown nested key is an error naming the key",
			yaml:    "ingest:\n  batch_wiat: 2ms\n",
			wantErr: []string{"batch_wiat"},
		},
		{
			name:    "unknown source key is an error naming the key",
			yaml:    "sources:\n  - name: erp\n    type: standard\n    secret: whsec_x\n",
			wantErr: []string{"field secret not found", `"erp"`, "line 4"},
		},
		{
			name:    "another type's key is an error naming the source and key",
			yaml:    "sources:\n  - name: kd\n    type: kuaidi100\n    salt: s\n    app_secret: x\n",
			wantErr: []string{"field app_secret not found", `"kd"`, "kuaidi100"},
		},
		{
			name:    "wrong type in a section",
			yaml:    "sources:\n  - name: erp\n    type: standard\n    secrets: {a: 1}\n",
			wantErr: []string{"erp", "line 4"},
		},
		{
			name: "every type's section",
			yaml: `
sources:
  - {name: dy, type: douyin, app_key: k1, app_secret: s1, pull_url: "http://127.0.0.1:9090/douyin", reconcile_every: 1m}
  - {name: tm, type: tmall, app_key: k2, app_secret: s2}
  - {name: wx, type: wechatpay, mchid: m, apiv3_key: a, platform_public_key_file: f, platform_public_key_id: i}
  - {name: wms, type: qimen, app_key: k3, app_secret: s3, customer_id: c}
  - {name: kd, type: kuaidi100, salt: s4}
`,
			check: func(t *testing.T, c config.Config) {
				want := []config.Source{
					{Name: "dy", Type: "douyin", PullURL: "http://127.0.0.1:9090/douyin", ReconcileEvery: time.Minute,
						Settings: douyin.Settings{AppKey: "k1", AppSecret: "s1"}},
					{Name: "tm", Type: "tmall", Settings: tmall.Settings{AppKey: "k2", AppSecret: "s2"}},
					{Name: "wx", Type: "wechatpay", Settings: wechatpay.Settings{MchID: "m", APIv3Key: "a", PlatformPublicKeyFile: "f", PlatformPublicKeyID: "i"}},
					{Name: "wms", Type: "qimen", Settings: qimen.Settings{AppKey: "k3", AppSecret: "s3", CustomerID: "c"}},
					{Name: "kd", Type: "kuaidi100", Settings: kuaidi100.Settings{Salt: "s4"}},
				}
				if !reflect.DeepEqual(c.Sources, want) {
					t.Errorf("got  %+v\nwant %+v", c.Sources, want)
				}
			},
		},
		{
			name:    "malformed yaml",
			yaml:    "mode: [dev\n",
			wantErr: []string{"config:"},
		},
		{
			name:    "wrong type",
			yaml:    "ingest:\n  max_batch_events: lots\n",
			wantErr: []string{"lots"},
		},
		{
			name:    "missing file",
			noFile:  true,
			env:     map[string]string{"TOWER_CONFIG": "{{dir}}/absent.yaml"},
			wantErr: []string{"absent.yaml"},
		},
		{
			name:    "bad TOWER_INGEST_BATCH_WAIT",
			noFile:  true,
			env:     map[string]string{"TOWER_INGEST_BATCH_WAIT": "soon"},
			wantErr: []string{"TOWER_INGEST_BATCH_WAIT", "soon"},
		},
		{
			name:    "bad TOWER_INGEST_MAX_BODY_BYTES",
			noFile:  true,
			env:     map[string]string{"TOWER_INGEST_MAX_BODY_BYTES": "4MiB"},
			wantErr: []string{"TOWER_INGEST_MAX_BODY_BYTES", "4MiB"},
		},
		{
			name: "TOWER_SOURCE_<NAME>_SECRETS appends, '-' as '_'",
			yaml: `
sources:
  - name: my-erp
    type: standard
    secrets: ["whsec_file"]
  - name: shop
    type: standard
`,
			env: map[string]string{
				"TOWER_SOURCE_MY_ERP_SECRETS": "whsec_env1  whsec_env2",
				"TOWER_SOURCE_SHOP_SECRETS":   "whsec_shop",
				// The raw name with '-' is not consulted.
				"TOWER_SOURCE_MY-ERP_SECRETS": "whsec_wrong",
			},
			check: func(t *testing.T, c config.Config) {
				if got, want := secretsOf(t, c.Sources[0]), []string{"whsec_file", "whsec_env1", "whsec_env2"}; !slices.Equal(got, want) {
					t.Errorf("my-erp secrets = %q, want %q", got, want)
				}
				if got, want := secretsOf(t, c.Sources[1]), []string{"whsec_shop"}; !slices.Equal(got, want) {
					t.Errorf("shop secrets = %q, want %q", got, want)
				}
			},
		},
		{
			name: "per-source APP_SECRET, APIV3_KEY and SALT from the environment",
			yaml: `
sources:
  - {name: tm-1, type: tmall, app_key: k, app_secret: from-file}
  - {name: dy, type: douyin, app_key: k}
  - {name: wms, type: qimen, app_key: k, customer_id: c}
  - {name: wx, type: wechatpay, apiv3_key: from-file}
  - {name: kd, type: kuaidi100}
`,
			env: map[string]string{
				"TOWER_SOURCE_TM_1_APP_SECRET": "from-env",
				"TOWER_SOURCE_DY_APP_SECRET":   "dy-env",
				"TOWER_SOURCE_WMS_APP_SECRET":  "wms-env",
				"TOWER_SOURCE_WX_APIV3_KEY":    "k3",
				"TOWER_SOURCE_KD_SALT":         "pepper",
				// Another type's variable is not read.
				"TOWER_SOURCE_KD_APP_SECRET": "unused",
			},
			check: func(t *testing.T, c config.Config) {
				if s := c.Sources[0].Settings.(tmall.Settings); s.AppSecret != "from-env" {
					t.Errorf("tmall app_secret %q", s.AppSecret)
				}
				if s := c.Sources[1].Settings.(douyin.Settings); s.AppSecret != "dy-env" {
					t.Errorf("douyin app_secret %q", s.AppSecret)
				}
				if s := c.Sources[2].Settings.(qimen.Settings); s.AppSecret != "wms-env" {
					t.Errorf("qimen app_secret %q", s.AppSecret)
				}
				if s := c.Sources[3].Settings.(wechatpay.Settings); s.APIv3Key != "k3" {
					t.Errorf("wechatpay apiv3_key %q", s.APIv3Key)
				}
				if s := c.Sources[4].Settings.(kuaidi100.Settings); s != (kuaidi100.Settings{Salt: "pepper"}) {
					t.Errorf("kuaidi100 settings %+v", s)
				}
			},
		},
		{
			name: "secrets_env appends the variable's fields",
			yaml: "sources:\n  - name: erp\n    type: standard\n    secrets: [whsec_a]\n    secrets_env: ERP_SECRETS\n",
			env:  map[string]string{"ERP_SECRETS": " whsec_b\twhsec_c "},
			check: func(t *testing.T, c config.Config) {
				if got, want := secretsOf(t, c.Sources[0]), []string{"whsec_a", "whsec_b", "whsec_c"}; !slices.Equal(got, want) {
					t.Errorf("secrets = %q, want %q", got, want)
				}
			},
		},
		{
			name:    "secrets_env naming an empty variable is an error",
			yaml:    "sources:\n  - name: erp\n    type: standard\n    secrets_env: ERP_SECRETS\n",
			wantErr: []string{"sources[0]", "erp", "secrets_env", "ERP_SECRETS"},
		},
		{
			name:  "secrets_file appends one secret per line",
			yaml:  "sources:\n  - name: erp\n    type: standard\n    secrets_file: \"{{dir}}/erp.secrets\"\n",
			files: map[string]string{"erp.secrets": "whsec_f1\nwhsec_f2\n\n"},
			check: func(t *testing.T, c config.Config) {
				if got, want := secretsOf(t, c.Sources[0]), []string{"whsec_f1", "whsec_f2"}; !slices.Equal(got, want) {
					t.Errorf("secrets = %q, want %q", got, want)
				}
			},
		},
		{
			name:    "missing secrets_file is an error",
			yaml:    "sources:\n  - name: erp\n    type: standard\n    secrets_file: \"{{dir}}/nope.secrets\"\n",
			wantErr: []string{"sources[0]", "erp", "secrets_file"},
		},
		{
			name: "all secret sources together",
			yaml: `
sources:
  - name: erp
    type: standard
    secrets: [whsec_yaml]
    secrets_env: ERP_SECRETS
    secrets_file: "{{dir}}/erp.secrets"
`,
			files: map[string]string{"erp.secrets": "whsec_file\n"},
			env: map[string]string{
				"ERP_SECRETS":              "whsec_var",
				"TOWER_SOURCE_ERP_SECRETS": "whsec_tower",
			},
			check: func(t *testing.T, c config.Config) {
				got := secretsOf(t, c.Sources[0])
				for _, s := range []string{"whsec_yaml", "whsec_var", "whsec_file", "whsec_tower"} {
					if !slices.Contains(got, s) {
						t.Errorf("secrets %q lack %q", got, s)
					}
				}
				if len(got) != 4 {
					t.Errorf("secrets %q: want 4", got)
				}
				if got[0] != "whsec_yaml" {
					t.Errorf("secrets %q: the file's secrets should come first", got)
				}
				if err := c.Validate(); err != nil {
					t.Errorf("Validate: %v", err)
				}
			},
		},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			expand := func(s string) string { return strings.ReplaceAll(s, "{{dir}}", dir) }
			for name, content := range tt.files {
				writeFile(t, dir, name, content)
			}
			env := map[string]string{}
			for k, v := range tt.env {
				env[k] = expand(v)
			}
			file := ""
			if !tt.noFile {
				p := writeFile(t, dir, "config.yaml", expand(tt.yaml))
				if tt.viaEnv {
					env["TOWER_CONFIG"] = p
				} else {
					file = p
				}
			}
			c, err := config.Load(file, fakeEnv(env))
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("Load: no error, want one mentioning %q", tt.wantErr)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("Load error %q does not mention %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

// The figures section: a component given only its weight keeps its
// default target and zero; the others keep theirs.
func TestLoadFigures(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(`
figures:
  time_zone: Asia/Shanghai
  same_day_cutoff: "15:30"
  health:
    backlog_sla: 12h
    components:
      on_time_ship: {weight: 0.5}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(path, fakeEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Figures.Settings()
	if err != nil || s.Cutoff != 15*time.Hour+30*time.Minute || s.Location.String() != "Asia/Shanghai" {
		t.Errorf("settings %+v, %v", s, err)
	}
	g, def := c.Figures.Health.Goals(), figures.DefaultGoals()
	if ots := g["on_time_ship"]; ots.Weight != 0.5 || ots.Target != def["on_time_ship"].Target || ots.Zero != def["on_time_ship"].Zero {
		t.Errorf("on_time_ship %+v", ots)
	}
	if g["abnormal_ratio"] != def["abnormal_ratio"] || c.Figures.Health.BacklogSLA != 12*time.Hour || c.Figures.Health.Window != 24*time.Hour {
		t.Errorf("other goals %+v, health %+v", g, c.Figures.Health)
	}
}

func TestLoadArgumentBeatsTOWER_CONFIG(t *testing.T) {
	dir := t.TempDir()
	arg := writeFile(t, dir, "arg.yaml", "log_level: debug\n")
	env := writeFile(t, dir, "env.yaml", "log_level: error\n")
	c, err := config.Load(arg, fakeEnv(map[string]string{"TOWER_CONFIG": env}))
	if err != nil {
		t.Fatal(err)
	}
	if c.LogLevel != "debug" {
		t.Errorf("LogLevel = %q: the file argument should win over TOWER_CONFIG", c.LogLevel)
	}
}

// errLines splits a Validate error into its lines.
func errLines(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

func TestValidate(t *testing.T) {
	base := func() config.Config {
		c := config.Default()
		c.NodeName = "node-test" // independent of the host
		c.Sources = []config.Source{validSource("erp")}
		return c
	}
	tests := []struct {
		name   string
		mutate func(c *config.Config)
		// want lists, per expected problem, the key and a fragment of its
		// message; Validate must report exactly these lines.
		want [][2]string
	}{
		{name: "valid", mutate: func(*config.Config) {}},
		{name: "valid production with database", mutate: func(c *config.Config) {
			c.Mode = "production"
			c.DatabaseURL = "postgresql://tower:pw@db:5432/tower?sslmode=require"
		}},
		{name: "valid simulation, json, upper-case level, port 0", mutate: func(c *config.Config) {
			c.Mode = "simulation"
			c.LogFormat = "json"
			c.LogLevel = "DEBUG"
			c.HTTPAddr = ":0"
		}},
		{name: "valid edge values", mutate: func(c *config.Config) {
			c.Ingest.BatchWait = 0
			c.Ingest.MaxBodyBytes = 1024
			c.Ingest.MaxBatchEvents = 50000
			c.GraphQL.BacklogPushInterval = 10 * time.Millisecond
			c.Sources = append(c.Sources, validSource("a_b-9"), validSource(strings.Repeat("x", 32)))
		}},
		{name: "valid batch wait 1s", mutate: func(c *config.Config) { c.Ingest.BatchWait = time.Second }},
		{name: "valid no sources", mutate: func(c *config.Config) { c.Sources = nil }},

		{name: "http_addr without port", mutate: func(c *config.Config) { c.HTTPAddr = "localhost" },
			want: [][2]string{{"http_addr", `"localhost" is not host:port`}}},
		{name: "clock_speed outside simulation", mutate: func(c *config.Config) { c.ClockSpeed = 60 },
			want: [][2]string{{"clock_speed", "only a server in mode: simulation"}}},
		{name: "clock_speed in simulation", mutate: func(c *config.Config) { c.Mode, c.ClockSpeed = "simulation", 60 }},
		{name: "clock_speed too fast", mutate: func(c *config.Config) { c.Mode, c.ClockSpeed = "simulation", 1e6 },
			want: [][2]string{{"clock_speed", "up to 100000"}}},
		{name: "bus_retention off", mutate: func(c *config.Config) { c.BusRetention = 0 }},
		{name: "figures in another zone with a late cut-off", mutate: func(c *config.Config) {
			c.Figures.TimeZone, c.Figures.SameDayCutoff = "Europe/Paris", "24:00"
		}},
		{name: "figures: unknown zone, bad cut-off, short retention", mutate: func(c *config.Config) {
			c.Figures.TimeZone, c.Figures.SameDayCutoff, c.Figures.MinuteRetention = "Mars/Olympus", "16h", time.Hour
		}, want: [][2]string{
			{"figures.time_zone", `"Mars/Olympus" is not a time zone`},
			{"figures.same_day_cutoff", "HH:MM"},
			{"figures.minute_retention", "below 2h"},
		}},
		{name: "figures: health goals that cannot score", mutate: func(c *config.Config) {
			w := -1.0
			c.Figures.Health.Components = map[string]config.HealthGoal{"on_time_ship": {Weight: &w}}
		}, want: [][2]string{{"figures.health.components", "on_time_ship: weight -1"}}},
		{name: "figures: an unknown health component", mutate: func(c *config.Config) {
			w := 1.0
			c.Figures.Health.Components = map[string]config.HealthGoal{"cost": {Weight: &w}}
		}, want: [][2]string{{"figures.health.components", `"cost" is not a health component`}}},
		{name: "bus_retention too short", mutate: func(c *config.Config) { c.BusRetention = time.Minute },
			want: [][2]string{{"bus_retention", "at least 1h"}}},
		{name: "valid debug_addr", mutate: func(c *config.Config) { c.DebugAddr = "127.0.0.1:6060" }},
		{name: "debug_addr without port", mutate: func(c *config.Config) { c.DebugAddr = "localhost" },
			want: [][2]string{{"debug_addr", `"localhost" is not host:port`}}},
		{name: "http_addr port too big", mutate: func(c *config.Config) { c.HTTPAddr = "127.0.0.1:65536" },
			want: [][2]string{{"http_addr", `port "65536"`}}},
		{name: "http_addr port not a number", mutate: func(c *config.Config) { c.HTTPAddr = "127.0.0.1:http" },
			want: [][2]string{{"http_addr", `port "http"`}}},
		{name: "bad mode", mutate: func(c *config.Config) { c.Mode = "staging" },
			want: [][2]string{{"mode", `"staging"`}}},
		{name: "bus kafka", mutate: func(c *config.Config) { c.Bus = "kafka" },
			want: [][2]string{{"bus", `"kafka" is not one of postgres, nats`}}},
		{name: "bus nats", mutate: func(c *config.Config) { c.Bus, c.NATSURL = "nats", "nats://127.0.0.1:4222" }},
		{name: "bus nats on a cluster", mutate: func(c *config.Config) {
			c.Bus, c.NATSURL, c.NATSPrefix, c.NATSAckWait = "nats", "nats://a:4222, tls://b:4222", "tower-eu_1", time.Second
		}},
		{name: "bus nats without nats_url", mutate: func(c *config.Config) { c.Bus = "nats" },
			want: [][2]string{{"nats_url", "required with bus: nats"}}},
		{name: "nats_url not a nats URL", mutate: func(c *config.Config) { c.Bus, c.NATSURL = "nats", "nats://a:4222,http://b:4222" },
			want: [][2]string{{"nats_url", "want nats://host:port"}}},
		{name: "nats_url without host", mutate: func(c *config.Config) { c.Bus, c.NATSURL = "nats", "127.0.0.1:4222" },
			want: [][2]string{{"nats_url", "want nats://host:port"}}},
		{name: "nats_prefix with a dot", mutate: func(c *config.Config) { c.Bus, c.NATSURL, c.NATSPrefix = "nats", "nats://a:4222", "tower.eu" },
			want: [][2]string{{"nats_prefix", `"tower.eu"`}}},
		{name: "nats_ack_wait too short", mutate: func(c *config.Config) {
			c.Bus, c.NATSURL, c.NATSAckWait = "nats", "nats://a:4222", 100*time.Millisecond
		}, want: [][2]string{{"nats_ack_wait", "outside 1s..10m"}}},
		{name: "nats settings unchecked on the postgres bus", mutate: func(c *config.Config) { c.NATSURL, c.NATSPrefix = "bad", "Bad.Prefix" }},
		{name: "bad log level", mutate: func(c *config.Config) { c.LogLevel = "verbose" },
			want: [][2]string{{"log_level", `"verbose"`}}},
		{name: "bad log format", mutate: func(c *config.Config) { c.LogFormat = "xml" },
			want: [][2]string{{"log_format", `"xml"`}}},
		{name: "empty node name", mutate: func(c *config.Config) { c.NodeName = "" },
			want: [][2]string{{"node_name", "required"}}},
		{name: "production without database_url", mutate: func(c *config.Config) { c.Mode = "production" },
			want: [][2]string{{"database_url", "required in production"}}},
		{name: "database_url not postgres", mutate: func(c *config.Config) { c.DatabaseURL = "mysql://db/tower" },
			want: [][2]string{{"database_url", "want postgres://"}}},
		{name: "batch wait negative", mutate: func(c *config.Config) { c.Ingest.BatchWait = -time.Millisecond },
			want: [][2]string{{"ingest.batch_wait", "-1ms is outside"}}},
		{name: "batch wait too long", mutate: func(c *config.Config) { c.Ingest.BatchWait = 1001 * time.Millisecond },
			want: [][2]string{{"ingest.batch_wait", "1.001s is outside"}}},
		{name: "max body bytes too small", mutate: func(c *config.Config) { c.Ingest.MaxBodyBytes = 1023 },
			want: [][2]string{{"ingest.max_body_bytes", "1023"}}},
		{name: "max batch events zero", mutate: func(c *config.Config) { c.Ingest.MaxBatchEvents = 0 },
			want: [][2]string{{"ingest.max_batch_events", "0 is outside"}}},
		{name: "backlog push interval too short", mutate: func(c *config.Config) { c.GraphQL.BacklogPushInterval = time.Millisecond },
			want: [][2]string{{"graphql.backlog_push_interval", "below 10ms"}}},
		{name: "negative backlog push budget", mutate: func(c *config.Config) { c.GraphQL.BacklogPushBudget = -1 },
			want: [][2]string{{"graphql.backlog_push_budget", "-1 is negative"}}},
		{name: "bad source name: upper case", mutate: func(c *config.Config) { c.Sources[0].Name = "ERP" },
			want: [][2]string{{"sources[0].name", `"ERP"`}}},
		{name: "bad source name: empty", mutate: func(c *config.Config) { c.Sources[0].Name = "" },
			want: [][2]string{{"sources[0].name", `""`}}},
		{name: "bad source name: leading dash", mutate: func(c *config.Config) { c.Sources[0].Name = "-erp" },
			want: [][2]string{{"sources[0].name", `"-erp"`}}},
		{name: "bad source name: too long", mutate: func(c *config.Config) { c.Sources[0].Name = strings.Repeat("x", 33) },
			want: [][2]string{{"sources[0].name", "up to 32"}}},
		{name: "duplicate source name", mutate: func(c *config.Config) { c.Sources = append(c.Sources, validSource("shop"), validSource("erp")) },
			want: [][2]string{{"sources[2].name", `"erp" is configured twice`}}},
		{name: "unknown source type", mutate: func(c *config.Config) { c.Sources[0].Type = "shopify" },
			want: [][2]string{{"sources[0].type", `"shopify"`}}},
		{name: "standard source without secrets", mutate: func(c *config.Config) { c.Sources = append(c.Sources, config.Source{Name: "my-erp", Type: "standard"}) },
			want: [][2]string{{"sources[1].secrets", "TOWER_SOURCE_MY_ERP_SECRETS"}}},
		{name: "production refuses the example secret", mutate: func(c *config.Config) {
			c.Mode, c.DatabaseURL = "production", "postgres://db/tower"
			c.Sources[0].Settings = standard.Settings{Secrets: []string{"whsec_own", standard.DevSecret}}
		}, want: [][2]string{{"sources[0]", "uses a secret published in Tower's repository"}}},
		{name: "dev takes the example secret", mutate: func(c *config.Config) {
			c.Sources[0].Settings = standard.Settings{Secrets: []string{standard.DevSecret}}
		}},
		{name: "platform keys missing", mutate: func(c *config.Config) {
			c.Sources = append(c.Sources,
				config.Source{Name: "dy", Type: "douyin", Settings: douyin.Settings{AppKey: "k"}},
				config.Source{Name: "wx", Type: "wechatpay"},
				config.Source{Name: "kd", Type: "kuaidi100"})
		}, want: [][2]string{
			{"sources[1].app_secret", `source "dy" of type douyin needs app_secret`},
			{"sources[2].mchid", "needs mchid"},
			{"sources[2].apiv3_key", "needs apiv3_key"},
			{"sources[2].platform_public_key_file", "needs platform_public_key_file"},
			{"sources[2].platform_public_key_id", "needs platform_public_key_id"},
			{"sources[3].salt", "needs salt"},
		}},
		{name: "valid pull sources", mutate: func(c *config.Config) {
			c.Sources = append(c.Sources,
				config.Source{Name: "dy", Type: "douyin", PullURL: "http://127.0.0.1:9090/douyin", Settings: douyin.Settings{AppKey: "k", AppSecret: "s"}},
				config.Source{Name: "mp", Type: "standard", Channel: "miniprogram", PullURL: "https://mp.example/api", Settings: standard.Settings{Secrets: []string{"whsec_x"}}})
		}},
		{name: "pull_url where there is no order list", mutate: func(c *config.Config) {
			c.Sources = append(c.Sources,
				config.Source{Name: "kd", Type: "kuaidi100", PullURL: "http://x/kd", Settings: kuaidi100.Settings{Salt: "s"}},
				config.Source{Name: "erp2", Type: "standard", PullURL: "http://x/erp", Settings: standard.Settings{Secrets: []string{"whsec_x"}}},
				config.Source{Name: "dy", Type: "douyin", PullURL: "ftp://x", Settings: douyin.Settings{AppKey: "k", AppSecret: "s"}})
		}, want: [][2]string{
			{"sources[1].pull_url", "type kuaidi100 has no order list to reconcile with (types that have one: standard, douyin, tmall)"},
			{"sources[2].pull_url", "channel miniprogram"},
			{"sources[3].pull_url", `"ftp://x" is not an http(s) URL`},
		}},
		{name: "settings of another type", mutate: func(c *config.Config) {
			c.Sources[0].Settings = douyin.Settings{AppKey: "k", AppSecret: "s"}
		}, want: [][2]string{{"sources[0].type", "not a standard.Settings section"}}},
		{
			name: "every bad value at once",
			mutate: func(c *config.Config) {
				c.HTTPAddr = "nowhere"
				c.Mode = "prod"
				c.Bus = "kafka"
				c.LogLevel = "loud"
				c.Ingest.BatchWait = 2 * time.Second
				c.Sources = []config.Source{
					{Name: "Bad Name", Type: "standard", Settings: standard.Settings{Secrets: []string{"whsec_x"}}},
					validSource("erp"),
					validSource("erp"),
					{Name: "shop", Type: "ftp"},
					{Name: "plain", Type: "standard"},
				}
			},
			want: [][2]string{
				{"mode", `"prod"`},
				{"http_addr", `"nowhere"`},
				{"bus", `"kafka"`},
				{"log_level", `"loud"`},
				{"ingest.batch_wait", "2s is outside"},
				{"sources[0].name", `"Bad Name"`},
				{"sources[2].name", "configured twice"},
				{"sources[3].type", `"ftp"`},
				{"sources[4].secrets", `"plain"`},
			},
		},
		{
			name: "nats without its URL and production without database together",
			mutate: func(c *config.Config) {
				c.Bus = "nats"
				c.Mode = "production"
			},
			want: [][2]string{
				{"database_url", "required in production"},
				{"nats_url", "required with bus: nats"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			tt.mutate(&c)
			err := c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate: nil, want %d problems", len(tt.want))
			}
			lines := errLines(err)
			if len(lines) != len(tt.want) {
				t.Errorf("Validate reported %d problems, want %d:\n%v", len(lines), len(tt.want), err)
			}
			for _, w := range tt.want {
				prefix := w[0] + ": "
				found := slices.ContainsFunc(lines, func(l string) bool {
					return strings.HasPrefix(l, prefix) && strings.Contains(l, w[1])
				})
				if !found {
					t.Errorf("no line %q...%q in:\n%v", prefix, w[1], err)
				}
			}
		})
	}
}

func TestDefaultValidates(t *testing.T) {
	c := config.Default()
	if c.NodeName == "" {
		t.Skip("no host name: Default leaves node_name empty")
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Default().Validate() without sources: %v", err)
	}
	c.Sources = []config.Source{{Name: "erp", Type: "standard"}}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "sources[0].secrets") {
		t.Errorf("Default() with a secretless source: %v, want a sources[0].secrets error", err)
	}
	c.Sources[0].Settings = standard.Settings{Secrets: []string{"whsec_x"}}
	if err := c.Validate(); err != nil {
		t.Errorf("Default() with a valid source: %v", err)
	}
}

func TestSlogLevel(t *testing.T) {
	for _, lvl := range []string{"debug", "info", "warn", "error", "WARN"} {
		c := config.Default()
		c.LogLevel = lvl
		if got := c.SlogLevel().String(); !strings.EqualFold(got, lvl) {
			t.Errorf("SlogLevel(%q) = %s", lvl, got)
		}
	}
}

func TestRedacted(t *testing.T) {
	storeBodies := true
	c := config.Default()
	c.NodeName = "node-a"
	c.DatabaseURL = "postgres://tower:hunter2@db.internal:5432/tower?sslmode=require"
	c.NATSURL = "nats://nats:4222,nats://tower:natspass@nats-2:4222,nats://s3cr3t-token@nats-3:4222"
	c.Ingest.StoreBodies = &storeBodies
	c.GraphQL.AllowedOrigins = []string{"https://a.example"}
	c.Sources = []config.Source{
		{
			Name: "erp", Type: "standard", Channel: "web",
			Settings: standard.Settings{Secrets: []string{"whsec_first", "whsec_second"},
				SecretsFile: "/run/secrets/erp", SecretsEnv: "ERP_SECRETS"},
		},
		{Name: "tmall", Type: "tmall", Settings: tmall.Settings{AppKey: "app-key-1", AppSecret: "app-secret-1"}},
		{Name: "dy", Type: "douyin", Settings: douyin.Settings{AppKey: "app-key-2", AppSecret: "app-secret-2"}},
		{Name: "wms", Type: "qimen", Settings: qimen.Settings{AppKey: "app-key-3", AppSecret: "app-secret-3", CustomerID: "cust-1"}},
		{Name: "wx", Type: "wechatpay", Settings: wechatpay.Settings{MchID: "mch-1", APIv3Key: "apiv3-key-1",
			PlatformPublicKeyFile: "/keys/pub.pem", PlatformPublicKeyID: "PUB_KEY_ID_1"}},
		{Name: "kd", Type: "kuaidi100", Settings: kuaidi100.Settings{Salt: "salt-1"}},
		{Name: "empty", Type: "standard", Settings: standard.Settings{}},
		{Name: "empty-tmall", Type: "tmall", Settings: tmall.Settings{AppKey: "k"}},
		{Name: "none", Type: "standard"},
	}
	orig := fmt.Sprintf("%+v", c)
	origSecrets := slices.Clone(secretsOf(t, c.Sources[0]))

	r := c.Redacted()

	// Nothing secret survives, in the struct or when printed as main does.
	printed := fmt.Sprintf("%+v", r)
	for _, secret := range []string{"hunter2", "natspass", "s3cr3t-token", "whsec_first", "whsec_second", "app-secret-1", "app-secret-2", "app-secret-3", "apiv3-key-1", "salt-1"} {
		if strings.Contains(printed, secret) {
			t.Errorf("Redacted still shows %q: %s", secret, printed)
		}
	}
	if got := secretsOf(t, r.Sources[0]); !slices.Equal(got, []string{"***", "***"}) {
		t.Errorf("secrets = %q, want two ***", got)
	}
	if s := r.Sources[1].Settings.(tmall.Settings); s.AppSecret != "***" || s.AppKey != "app-key-1" {
		t.Errorf("tmall %+v, want app_secret ***", s)
	}
	if s := r.Sources[4].Settings.(wechatpay.Settings); s.APIv3Key != "***" {
		t.Errorf("apiv3_key %q, want ***", s.APIv3Key)
	}
	if s := r.Sources[5].Settings.(kuaidi100.Settings); s.Salt != "***" {
		t.Errorf("salt %q, want ***", s.Salt)
	}
	if s := r.Sources[6]; len(secretsOf(t, s)) != 0 {
		t.Errorf("unset secrets should stay unset, got %+v", s)
	}
	if s := r.Sources[7].Settings.(tmall.Settings); s.AppSecret != "" {
		t.Errorf("unset app_secret should stay unset, got %+v", s)
	}

	// The database URL keeps everything but the password.
	u, err := url.Parse(r.DatabaseURL)
	if err != nil {
		t.Fatalf("redacted database_url %q: %v", r.DatabaseURL, err)
	}
	pw, has := u.User.Password()
	if !has || pw == "hunter2" || u.User.Username() != "tower" ||
		u.Scheme != "postgres" || u.Host != "db.internal:5432" || u.Path != "/tower" || u.RawQuery != "sslmode=require" {
		t.Errorf("redacted database_url = %q", r.DatabaseURL)
	}

	// Everything else is kept as is.
	want := c
	want.DatabaseURL = r.DatabaseURL
	// Each NATS server keeps its address and user; passwords and tokens go.
	want.NATSURL = "nats://nats:4222,nats://tower:REDACTED@nats-2:4222,nats://REDACTED@nats-3:4222"
	want.Sources = slices.Clone(c.Sources)
	want.Sources[0].Settings = standard.Settings{Secrets: []string{"***", "***"}, SecretsFile: "/run/secrets/erp", SecretsEnv: "ERP_SECRETS"}
	want.Sources[1].Settings = tmall.Settings{AppKey: "app-key-1", AppSecret: "***"}
	want.Sources[2].Settings = douyin.Settings{AppKey: "app-key-2", AppSecret: "***"}
	want.Sources[3].Settings = qimen.Settings{AppKey: "app-key-3", AppSecret: "***", CustomerID: "cust-1"}
	want.Sources[4].Settings = wechatpay.Settings{MchID: "mch-1", APIv3Key: "***", PlatformPublicKeyFile: "/keys/pub.pem", PlatformPublicKeyID: "PUB_KEY_ID_1"}
	want.Sources[5].Settings = kuaidi100.Settings{Salt: "***"}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("Redacted changed more than secrets:\ngot  %+v\nwant %+v", r, want)
	}

	// The original is untouched.
	if got := fmt.Sprintf("%+v", c); got != orig {
		t.Errorf("Redacted modified its receiver:\nbefore %s\nafter  %s", orig, got)
	}
	if got := secretsOf(t, c.Sources[0]); !slices.Equal(got, origSecrets) {
		t.Errorf("Redacted modified the original secrets: %q", got)
	}
}

func TestRedactedDatabaseURLWithoutPassword(t *testing.T) {
	for _, dsn := range []string{
		"",
		"postgres://db.internal:5432/tower",
		"postgres://tower@db.internal:5432/tower?sslmode=disable",
	} {
		c := config.Default()
		c.DatabaseURL = dsn
		if got := c.Redacted().DatabaseURL; got != dsn {
			t.Errorf("Redacted(%q).DatabaseURL = %q, want it unchanged", dsn, got)
		}
	}
}

// The example configuration loads as it stands, every source with its
// type's section, and validates.
func TestExampleConfig(t *testing.T) {
	c, err := config.Load("../../config.example.yaml", fakeEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	c.NodeName = "node-test"
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	types := map[string]string{}
	for _, s := range c.Sources {
		types[s.Name] = fmt.Sprintf("%s %T", s.Type, s.Settings)
	}
	want := map[string]string{
		"erp": "standard standard.Settings", "douyin": "douyin douyin.Settings", "tmall": "tmall tmall.Settings",
		"mp-pay": "wechatpay wechatpay.Settings", "mp": "standard standard.Settings", "wms": "qimen qimen.Settings",
		"kd100": "kuaidi100 kuaidi100.Settings",
	}
	if !reflect.DeepEqual(types, want) {
		t.Errorf("sources %v, want %v", types, want)
	}
	if s := c.Sources[1].Settings.(douyin.Settings); s.AppKey != "7000000000000000001" || s.AppSecret != "dev-douyin-secret" {
		t.Errorf("douyin %+v", s)
	}
	// The example spells out the default goals: they must stay the same.
	if g := c.Figures.Health.Goals(); !reflect.DeepEqual(g, figures.DefaultGoals()) {
		t.Errorf("example health goals %v, defaults %v", g, figures.DefaultGoals())
	}
	// Production refuses the example's development secret.
	c.Mode, c.DatabaseURL, c.Simulator.Enabled = "production", "postgres://db/tower", false
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "sources[0]: source \"erp\" uses a secret published") {
		t.Errorf("production Validate: %v", err)
	}
}

// TestProductionRefusesEveryExampleSecret: in production every source of
// the example configuration is refused for its published secret, and so is
// a published secret given through the environment; a source with its own
// secrets passes.
func TestProductionRefusesEveryExampleSecret(t *testing.T) {
	c, err := config.Load("../../config.example.yaml", fakeEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	c.Mode, c.DatabaseURL, c.Simulator.Enabled, c.NodeName = "production", "postgres://db/tower", false, "n"
	err = c.Validate()
	if err == nil {
		t.Fatal("production accepted the example configuration")
	}
	for i, s := range c.Sources {
		if !strings.Contains(err.Error(), fmt.Sprintf("sources[%d]: source %q uses a secret published", i, s.Name)) {
			t.Errorf("source %s: its example secret is not refused (errors: %v)", s.Name, err)
		}
	}

	env := fakeEnv(map[string]string{"TOWER_SOURCE_DOUYIN_APP_SECRET": "dev-douyin-secret"})
	c, err = config.Load("testdata/production_douyin.yaml", env)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "uses a secret published") {
		t.Errorf("published secret from the environment: %v", err)
	}
	c, err = config.Load("testdata/production_douyin.yaml", fakeEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("own secrets refused: %v", err)
	}
}
