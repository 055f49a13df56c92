package train

// Reading and writing the config as YAML, and setting single keys from strings (flags).
// Unknown keys are errors that list the valid keys of their section.

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/flowtune/flowtune/rl/reward"
)

// ResolveConfig builds a run's config in layers: the defaults of the algorithm, the named preset
// (preset.go), the YAML file at path (if path is not empty), and the overrides (config keys to
// string values, e.g. the flags set on the command line). The algorithm, which picks the
// defaults, and the preset are taken from the overrides, else the file, else DefaultAlgo and no
// preset. The result is validated.
func ResolveConfig(path string, overrides map[string]string) (Config, error) {
	return resolveConfigFrom(DefaultConfig, path, overrides, nil)
}

// ResolveConfigFrom is ResolveConfig over other defaults (SD3Defaults for SD3-family models).
func ResolveConfigFrom(defaults func(algo string) Config, path string, overrides map[string]string) (Config, error) {
	return resolveConfigFrom(defaults, path, overrides, nil)
}

// resolveConfig is ResolveConfig with extra reward names accepted.
func resolveConfig(path string, overrides map[string]string, extra map[string]reward.Reward) (Config, error) {
	return resolveConfigFrom(DefaultConfig, path, overrides, extra)
}

func resolveConfigFrom(defaults func(string) Config, path string, overrides map[string]string, extra map[string]reward.Reward) (Config, error) {
	var data []byte
	if path != "" {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return Config{}, fmt.Errorf("config: %w", err)
		}
	}
	return resolveConfigDataFrom(defaults, path, data, overrides, extra)
}

// resolveConfigData is resolveConfig with the file's content given (path only names it; empty:
// no file).
func resolveConfigData(path string, data []byte, overrides map[string]string, extra map[string]reward.Reward) (Config, error) {
	return resolveConfigDataFrom(DefaultConfig, path, data, overrides, extra)
}

func resolveConfigDataFrom(defaults func(string) Config, path string, data []byte, overrides map[string]string, extra map[string]reward.Reward) (Config, error) {
	algo, preset := "", ""
	if path != "" {
		var peek struct {
			Algo   string `yaml:"algo"`
			Preset string `yaml:"preset"`
		}
		if err := yaml.Unmarshal(data, &peek); err != nil {
			return Config{}, fmt.Errorf("config %s: %w", path, err)
		}
		algo, preset = peek.Algo, peek.Preset
	}
	if v, ok := overrides["algo"]; ok {
		algo = v
	}
	if v, ok := overrides["preset"]; ok {
		preset = strings.TrimSpace(v)
	}
	cfg := defaults(algo)
	if err := applyPreset(&cfg, preset); err != nil {
		return Config{}, err
	}
	if path != "" {
		if err := cfg.decodeYAML(path, data); err != nil {
			return Config{}, err
		}
	}
	keys := make([]string, 0, len(overrides))
	for k := range overrides {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := cfg.Set(k, overrides[k]); err != nil {
			return Config{}, err
		}
	}
	return cfg, cfg.validate(extra)
}

// decodeYAML overlays the YAML document data (read from name) on c: keys present in the file
// replace their values, absent keys keep them.
func (c *Config) decodeYAML(name string, data []byte) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("config %s: %w", name, err)
	}
	if err := singleDocument(name, data); err != nil {
		return err
	}
	if len(doc.Content) == 0 {
		return nil // an empty file changes nothing
	}
	if err := checkKeys(name, doc.Content[0], reflect.TypeOf(*c), ""); err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true) // a second guard: the key walk above gives the friendlier message
	if err := dec.Decode(c); err != nil {
		return fmt.Errorf("config %s: %w", name, err)
	}
	return nil
}

// singleDocument rejects a file of more than one YAML document ("---" between them): a config
// is one document, and a second one would otherwise be ignored without a word.
func singleDocument(name string, data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var first, second yaml.Node
	if err := dec.Decode(&first); err != nil {
		return nil // empty, or an error the caller reports
	}
	switch err := dec.Decode(&second); {
	case errors.Is(err, io.EOF):
		return nil
	case err != nil:
		return fmt.Errorf("config %s: %w", name, err)
	}
	return fmt.Errorf("config %s: line %d: a second YAML document; a config file holds one (remove the '---' and merge the keys)", name, second.Line)
}

// checkKeys walks a mapping node against the struct type t and reports the first key that t
// has no field for, with the valid keys of that level, or the first value of the wrong form.
func checkKeys(name string, n *yaml.Node, t reflect.Type, prefix string) error {
	if n.Kind != yaml.MappingNode {
		what := "the top level"
		if prefix != "" {
			what = strings.TrimSuffix(prefix, ".")
		}
		return fmt.Errorf("config %s: line %d: %s must be a mapping of key: value", name, n.Line, what)
	}
	fields := yamlFields(t)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		f, ok := fields[k.Value]
		if !ok {
			valid := make([]string, 0, len(fields))
			for key := range fields {
				valid = append(valid, prefix+key)
			}
			sort.Strings(valid)
			return fmt.Errorf("config %s: line %d: unknown key %q (valid keys: %s)", name, k.Line, prefix+k.Value, strings.Join(valid, ", "))
		}
		if f.Type.Kind() == reflect.Struct {
			if err := checkKeys(name, v, f.Type, prefix+k.Value+"."); err != nil {
				return err
			}
			continue
		}
		// Check the value's form here too, so that the message names the key.
		if v.Kind != yaml.ScalarNode {
			return fmt.Errorf("config %s: line %d: %s must be a single value", name, v.Line, prefix+k.Value)
		}
		if err := setValue(reflect.New(f.Type).Elem(), v.Value); err != nil {
			return fmt.Errorf("config %s: line %d: %s: %v", name, v.Line, prefix+k.Value, err)
		}
	}
	return nil
}

// yamlFields maps the yaml key of every field of t to the field.
func yamlFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if key != "" && key != "-" {
			out[key] = f
		}
	}
	return out
}

// YAML renders the config with every key, in declaration order, the credentials of reward
// server URLs redacted (RedactSpec): this is what config.yaml and the checkpoints store.
func (c Config) YAML() ([]byte, error) {
	c.Reward = RedactSpec(c.Reward)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ConfigKey is one settable key: its dotted path, the help text and the current value.
type ConfigKey struct {
	Path, Help string
	Value      reflect.Value
}

// Keys lists every leaf key of c ("steps", "ram.multiplier", …) in declaration order, with
// settable values pointing into c.
func (c *Config) Keys() []ConfigKey {
	var out []ConfigKey
	var walk func(v reflect.Value, prefix string)
	walk = func(v reflect.Value, prefix string) {
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if key == "" || key == "-" {
				continue
			}
			if f.Type.Kind() == reflect.Struct {
				walk(v.Field(i), prefix+key+".")
				continue
			}
			out = append(out, ConfigKey{Path: prefix + key, Help: f.Tag.Get("help"), Value: v.Field(i)})
		}
	}
	walk(reflect.ValueOf(c).Elem(), "")
	return out
}

// Set assigns one key from its string form; '-' in the key is read as '_' (flag spelling).
// An unknown key is an error listing the valid ones.
func (c *Config) Set(key, value string) error {
	want := fileKey(key)
	keys := c.Keys()
	for _, k := range keys {
		if k.Path == want {
			if err := setValue(k.Value, value); err != nil {
				return fmt.Errorf("config: %s: %w", k.Path, err)
			}
			return nil
		}
	}
	valid := make([]string, len(keys))
	for i, k := range keys {
		valid[i] = k.Path
	}
	return fmt.Errorf("config: unknown key %q (valid keys: %s)", key, strings.Join(valid, ", "))
}

// fileKey is a config key in the form the YAML file writes it: a flag's name (eval-prompts,
// awm.kl-beta) with its hyphens as underscores.
func fileKey(key string) string { return strings.ReplaceAll(key, "-", "_") }

// setValue parses s into v, which must be addressable: a typed field (one that implements
// encoding.TextUnmarshaler) parses itself, the rest by their kind.
func setValue(v reflect.Value, s string) error {
	s = strings.TrimSpace(s)
	if u, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		return u.UnmarshalText([]byte(s))
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("%q is not an integer", s)
		}
		v.SetInt(int64(n))
	case reflect.Uint64:
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a non-negative integer", s)
		}
		v.SetUint(n)
	case reflect.Float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			switch strings.ToLower(strings.TrimLeft(s, "+-")) {
			case ".nan", ".inf": // YAML's spellings
				return fmt.Errorf("%q is not a finite number", s)
			}
			return fmt.Errorf("%q is not a number", s)
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("%q is not a finite number", s)
		}
		v.SetFloat(f)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		v.SetBool(b)
	default:
		return errors.New("unsupported field type " + v.Kind().String())
	}
	return nil
}

// String is the key's current value in the form Set reads.
func (k ConfigKey) String() string {
	if m, ok := k.Value.Interface().(encoding.TextMarshaler); ok {
		if b, err := m.MarshalText(); err == nil {
			return string(b)
		}
	}
	switch k.Value.Kind() {
	case reflect.Float64:
		return strconv.FormatFloat(k.Value.Float(), 'g', -1, 64)
	default:
		return fmt.Sprint(k.Value.Interface())
	}
}
