package config

import (
	"reflect"

	"github.com/towerhq/tower/internal/platforms"
)

// shippedSecrets are secret values anyone can read in Tower's repository:
// every secret of config.example.yaml, and those the simulator and the
// tests sign with. Production refuses each of them wherever it appears in
// a source's section (TestProductionRefusesEveryExampleSecret keeps this
// list in step with the example file). They are public, not secrets:
// listing them here hides nothing.
var shippedSecrets = map[string]bool{
	// config.example.yaml
	"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw":     true,
	"whsec_ZGV2LW1pbmlwcm9ncmFtLXNlY3JldC0wMQ==": true,
	"dev-douyin-secret":                          true,
	"dev-tmall-secret":                           true,
	"devdevdevdevdevdevdevdevdevdev32":           true,
	"dev-qimen-secret":                           true,
	"dev-kuaidi100-salt":                         true,
	// the simulator's and the tests' fixtures
	"douyin-secret": true, "tmall-secret": true, "wms-secret": true, "k100salt": true,
	"0123456789abcdef0123456789abcdef": true,
	"douyin-test-secret":               true, "tmall-test-secret": true, "qimen-test-secret": true,
	"topsecret": true, "pepper": true, "helloworld": true, "s3cr3t": true,
}

// secretValues are the values of s that its Redacted copy hides: what the
// platform itself says is secret, whatever its keys are called.
func secretValues(s platforms.Settings) []string {
	if s == nil {
		return nil
	}
	var out []string
	collectSecrets(reflect.ValueOf(s), reflect.ValueOf(s.Redacted()), &out)
	return out
}

func collectSecrets(a, b reflect.Value, out *[]string) {
	if a.Kind() != b.Kind() {
		return
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !a.IsNil() && !b.IsNil() {
			collectSecrets(a.Elem(), b.Elem(), out)
		}
	case reflect.Struct:
		if a.Type() != b.Type() {
			return
		}
		for i := range a.NumField() {
			if a.Type().Field(i).IsExported() {
				collectSecrets(a.Field(i), b.Field(i), out)
			}
		}
	case reflect.Slice:
		for i := range a.Len() {
			if i < b.Len() {
				collectSecrets(a.Index(i), b.Index(i), out)
			} else if a.Index(i).Kind() == reflect.String {
				*out = append(*out, a.Index(i).String())
			}
		}
	case reflect.String:
		if v := a.String(); v != "" && v != b.String() {
			*out = append(*out, v)
		}
	}
}
