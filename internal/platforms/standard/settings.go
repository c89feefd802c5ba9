package standard

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms"
	"github.com/towerhq/tower/internal/reconcile/pull"
)

// Settings is a standard source's own configuration keys. Secrets come
// from the file, and are appended to from TOWER_SOURCE_<NAME>_SECRETS
// (space-separated), then SecretsEnv, then SecretsFile, so rotation can
// add one anywhere.
type Settings struct {
	// Secrets are "whsec_<base64>" signing secrets; several allowed for
	// rotation.
	Secrets []string `yaml:"secrets"`
	// SecretsFile holds secrets one per line; SecretsEnv names a variable
	// holding them space-separated.
	SecretsFile string `yaml:"secrets_file"`
	SecretsEnv  string `yaml:"secrets_env"`
}

// DevSecret is the example secret of config.example.yaml (the Standard
// Webhooks documentation's); production refuses it.
const DevSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// Platform is Standard Webhooks, for the brand's own systems (ERP,
// mini-program backend); with channel miniprogram, the backend's order
// list is reconciled.
var Platform = platforms.Define(platforms.Def[Settings]{
	Type: Type,
	NewSource: func(spec platforms.Spec, s Settings, now func() time.Time) (platforms.Source, error) {
		return New(Config{Name: spec.Name, Channel: spec.Channel, Secrets: s.Secrets}, now)
	},
	NewClient: func(spec platforms.Spec, s Settings) pull.Client {
		if spec.Channel != order.ChannelMiniProgram || len(s.Secrets) == 0 {
			return nil
		}
		// The backend verifies list requests with the key its pushes are
		// signed with.
		return NewClient(ClientConfig{Options: pull.Options{BaseURL: spec.PullURL}, Secret: s.Secrets[0]})
	},
})

func (s Settings) WithEnv(env platforms.Env) (platforms.Settings, error) {
	// A copy: appending must not write into the decoded configuration.
	s.Secrets = slices.Clone(s.Secrets)
	if v := env.Get("SECRETS"); v != "" {
		s.Secrets = append(s.Secrets, strings.Fields(v)...)
	}
	if s.SecretsEnv != "" {
		v := env.Getenv(s.SecretsEnv)
		if v == "" {
			return s, fmt.Errorf("secrets_env %s is empty", s.SecretsEnv)
		}
		s.Secrets = append(s.Secrets, strings.Fields(v)...)
	}
	if s.SecretsFile != "" {
		b, err := os.ReadFile(s.SecretsFile)
		if err != nil {
			return s, fmt.Errorf("secrets_file: %w", err)
		}
		s.Secrets = append(s.Secrets, strings.Fields(string(b))...)
	}
	return s, nil
}

func (s Settings) Check(spec platforms.Spec, production bool) []platforms.Problem {
	var out []platforms.Problem
	// Published secrets (DevSecret among them) are refused in production
	// by the configuration, for every platform alike.
	if len(s.Secrets) == 0 {
		out = append(out, platforms.Problem{Key: "secrets", Msg: fmt.Sprintf(
			"source %q needs at least one whsec_ secret (secrets, secrets_env, secrets_file or %s)", spec.Name, platforms.SourceVar(spec.Name, "SECRETS"))})
	}
	if spec.PullURL != "" && spec.Channel != order.ChannelMiniProgram {
		out = append(out, platforms.Problem{Key: "pull_url",
			Msg: "a standard source reconciles only with channel miniprogram (the mini-program backend's order list)"})
	}
	return out
}

func (s Settings) Redacted() platforms.Settings {
	if len(s.Secrets) > 0 {
		s.Secrets = slices.Repeat([]string{"***"}, len(s.Secrets))
	}
	return s
}
