package train

import (
	"flag"
	"strings"
)

// FlagName is the command-line spelling of a config key: '_' becomes '-'
// ("eval_every" → "eval-every", "ram.multiplier" stays).
func FlagName(key string) string { return strings.ReplaceAll(key, "_", "-") }

// RegisterFlags defines one flag per config key on fs, showing c's values as defaults. The flags
// write into c; to layer them over a config file instead, read which ones were set with
// fs.Visit and pass their values to ResolveConfig.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	for _, k := range c.Keys() {
		fs.Var(keyFlag{k}, FlagName(k.Path), k.Help)
	}
}

// keyFlag is a flag.Value over one config key.
type keyFlag struct{ k ConfigKey }

func (f keyFlag) String() string {
	if !f.k.Value.IsValid() {
		return ""
	}
	return f.k.String()
}

func (f keyFlag) Set(s string) error { return setValue(f.k.Value, s) }
