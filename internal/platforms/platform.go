package platforms

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/towerhq/tower/internal/reconcile/pull"
)

// Settings is one source's type-specific configuration section: the keys
// of its sources[] entry beyond the common ones (name, type, channel,
// pull_url, reconcile_*). Each platform defines its own as a value type of
// plain fields with yaml tags, so a configuration prints and compares as
// data.
type Settings interface {
	// WithEnv returns the section with the source's environment overrides
	// applied (Env names the variables).
	WithEnv(env Env) (Settings, error)
	// Check returns what is wrong with the section of source spec;
	// production refuses development secrets.
	Check(spec Spec, production bool) []Problem
	// Redacted is a copy safe to log, secrets shown as "***".
	Redacted() Settings
}

// Spec is one configured source, as its platform sees it.
type Spec struct {
	Name    string
	Channel string
	// PullURL is the platform's order-list API that reconciliation pulls;
	// "" when the source is not reconciled.
	PullURL string
	// Settings is the type's own section; nil reads as an empty one.
	Settings Settings
}

// Problem is one bad value of a section: Key names it ("app_key"), Msg
// says what is wrong.
type Problem struct {
	Key, Msg string
}

// Required is a problem for each key, given as key and value pairs, whose
// value is empty.
func Required(spec Spec, typ string, keyValues ...string) []Problem {
	var out []Problem
	for i := 0; i+1 < len(keyValues); i += 2 {
		if keyValues[i+1] == "" {
			out = append(out, Problem{keyValues[i], fmt.Sprintf("source %q of type %s needs %s", spec.Name, typ, keyValues[i])})
		}
	}
	return out
}

// Env reads one source's environment overrides.
type Env struct {
	Source string
	// Getenv reads the process environment (a map in tests).
	Getenv func(string) string
}

// Get reads the source's own variable for suffix (see SourceVar).
func (e Env) Get(suffix string) string { return e.Getenv(SourceVar(e.Source, suffix)) }

// Override is the source's own variable for suffix when it is set, else v.
func (e Env) Override(suffix, v string) string {
	if ev := e.Get(suffix); ev != "" {
		return ev
	}
	return v
}

// SourceVar is the name of a source's own variable: TOWER_SOURCE_<NAME>_<SUFFIX>,
// the name upper-cased with '-' as '_'.
func SourceVar(name, suffix string) string {
	n := strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	return "TOWER_SOURCE_" + n + "_" + suffix
}

// Def defines a platform whose configuration section is S.
type Def[S Settings] struct {
	// Type is the sources[].type that selects the platform.
	Type string
	// Channel is the sales channel whose orders its sources report unless
	// a source names its own; "" for systems that serve every channel
	// (ERP, WMS, couriers).
	Channel string
	// NewSource builds the push source of a configured source; s is its
	// section.
	NewSource func(spec Spec, s S, now func() time.Time) (Source, error)
	// NewClient builds the order-list client reconciliation pulls at
	// spec.PullURL; nil when the platform has none. It returns nil when
	// this source has none (Check says why).
	NewClient func(spec Spec, s S) pull.Client
}

// Platform is what the rest of Tower knows of one platform: its source
// type, how to read and check its configuration section, and what to
// build from a configured source. Each platform package exports one
// (douyin.Platform), made with Define; platforms/registry lists them.
type Platform struct {
	typ       string
	channel   string
	keys      []string
	decode    func(n *yaml.Node) (Settings, error)
	settings  func(spec Spec) (Settings, error)
	newSource func(spec Spec, now func() time.Time) (Source, error)
	newClient func(spec Spec) pull.Client
}

// Define makes the Platform of d.
func Define[S Settings](d Def[S]) Platform {
	p := Platform{typ: d.Type, channel: d.Channel, keys: yamlKeys(reflect.TypeFor[S]())}
	p.decode = func(n *yaml.Node) (Settings, error) {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; !slices.Contains(p.keys, k.Value) {
				return nil, fmt.Errorf("line %d: field %s not found in a %s source (its own keys: %s)",
					k.Line, k.Value, d.Type, strings.Join(p.keys, ", "))
			}
		}
		var s S
		if err := n.Decode(&s); err != nil {
			return nil, err
		}
		return s, nil
	}
	p.settings = func(spec Spec) (Settings, error) { return SettingsOf[S](spec) }
	p.newSource = func(spec Spec, now func() time.Time) (Source, error) {
		s, err := SettingsOf[S](spec)
		if err != nil {
			return nil, err
		}
		return d.NewSource(spec, s, now)
	}
	if d.NewClient != nil {
		p.newClient = func(spec Spec) pull.Client {
			s, err := SettingsOf[S](spec)
			if err != nil {
				return nil // NewSource and Check report it
			}
			return d.NewClient(spec, s)
		}
	}
	return p
}

// SettingsOf returns spec's section as the platform's own type S, the
// empty S when spec has none.
func SettingsOf[S Settings](spec Spec) (S, error) {
	var zero S
	if spec.Settings == nil {
		return zero, nil
	}
	s, ok := spec.Settings.(S)
	if !ok {
		return zero, fmt.Errorf("source %q: settings %T are not a %T section", spec.Name, spec.Settings, zero)
	}
	return s, nil
}

// Type is the sources[].type of the platform.
func (p Platform) Type() string { return p.typ }

// Channel is the sales channel whose orders spec reports: its own, else the
// platform's; "" for a system serving every channel.
func (p Platform) Channel(spec Spec) string {
	if spec.Channel != "" {
		return spec.Channel
	}
	return p.channel
}

// Keys are the section's own keys.
func (p Platform) Keys() []string { return slices.Clone(p.keys) }

// Decode reads a source's section (a YAML mapping of the keys beyond the
// common ones); a key the platform does not know is an error naming it.
func (p Platform) Decode(n *yaml.Node) (Settings, error) { return p.decode(n) }

// Settings returns spec's section, the empty one when spec has none; an
// error when it belongs to another platform.
func (p Platform) Settings(spec Spec) (Settings, error) { return p.settings(spec) }

// Check returns what is wrong with spec's section.
func (p Platform) Check(spec Spec, production bool) []Problem {
	s, err := p.settings(spec)
	if err != nil {
		return []Problem{{"type", err.Error()}}
	}
	return s.Check(spec, production)
}

// NewSource builds the push source of a configured source.
func (p Platform) NewSource(spec Spec, now func() time.Time) (Source, error) {
	return p.newSource(spec, now)
}

// Pulls reports whether the platform has an order list to reconcile with.
func (p Platform) Pulls() bool { return p.newClient != nil }

// NewClient builds the order-list client of a configured source with a
// pull_url: nil when the platform or the source has none, or when spec's
// settings are another platform's (which NewSource and Check report).
func (p Platform) NewClient(spec Spec) pull.Client {
	if p.newClient == nil || spec.PullURL == "" {
		return nil
	}
	return p.newClient(spec)
}

// yamlKeys are the yaml names of a struct's fields.
func yamlKeys(t reflect.Type) []string {
	var keys []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		keys = append(keys, name)
	}
	return keys
}

// Redact shows a set secret as "***", for Settings.Redacted.
func Redact(secret string) string {
	if secret == "" {
		return ""
	}
	return "***"
}
