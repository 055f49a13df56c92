// Package prompts holds the text side of text-to-image training: the prompt-embedding cache
// that conditions SD3-family models (whose text encoders run outside flowtune, in
// tools/encode_prompts.py), and the prompt sets users bring (Flow-GRPO's GenEval jsonl and
// plain one-prompt-per-line files).
//
// # The embedding cache
//
// One safetensors file. Per prompt, two tensors named after the first 16 hex digits of the
// SHA-256 of the prompt's UTF-8 bytes:
//
//	<hash>.prompt_embeds  [L, D]  the transformer's context (SD3: 333 × 4096: CLIP-L and
//	                              OpenCLIP-bigG tokens, then T5-XXL's)
//	<hash>.pooled         [P]     the pooled text embedding (SD3: 2048)
//
// L, D and P are read from the file (every prompt must agree), never assumed. The empty prompt
// is stored like any other and is the negative prompt of classifier-free guidance. The
// metadata holds "format" (FormatVersion), "prompts" (a JSON object from hash to prompt text,
// so that the file lists its own contents) and, when tools/encode_prompts.py wrote it, "model"
// (the checkpoint the encoders came from). Tensors are BF16 or F32. Files are written
// atomically.
package prompts

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/flowtune/flowtune/nn"
)

// FormatVersion is the "format" metadata value of a cache file.
const FormatVersion = "flowtune-prompt-embeddings/1"

// Key is the tensor-name stem of a prompt: the first 16 hex digits of SHA-256(prompt).
func Key(prompt string) string {
	h := sha256.Sum256([]byte(prompt))
	return hex.EncodeToString(h[:8])
}

// Cache reads prompt embeddings from a cache file on demand (the file stays open; Close it).
type Cache struct {
	Path        string
	Model       string // the checkpoint the encoders came from, when recorded
	SeqLen, Dim int    // prompt_embeds is [SeqLen, Dim]
	PooledDim   int
	f           *nn.SafetensorsFile
	prompts     map[string]string // key → prompt
}

// Open reads a cache's header and checks that every entry has both tensors with the same
// widths.
func Open(path string) (*Cache, error) {
	f, err := nn.OpenSafetensors(path)
	if err != nil {
		return nil, fmt.Errorf("prompt cache: %w", err)
	}
	c, err := newCache(path, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return c, nil
}

func newCache(path string, f *nn.SafetensorsFile) (*Cache, error) {
	meta := f.Metadata()
	if v := meta["format"]; v != FormatVersion {
		return nil, fmt.Errorf("prompt cache %s: metadata format %q, want %q (write caches with tools/encode_prompts.py or go run ./cmd/embedcache)", path, v, FormatVersion)
	}
	c := &Cache{Path: path, Model: meta["model"], f: f, prompts: map[string]string{}}
	if err := json.Unmarshal([]byte(meta["prompts"]), &c.prompts); err != nil {
		return nil, fmt.Errorf("prompt cache %s: metadata \"prompts\" is not a JSON object of hash → prompt: %v", path, err)
	}
	seen := map[string]int{}
	for _, name := range f.Names() {
		key, part, ok := strings.Cut(name, ".")
		if !ok || (part != "prompt_embeds" && part != "pooled") {
			return nil, fmt.Errorf("prompt cache %s: unexpected tensor %q (want <hash>.prompt_embeds and <hash>.pooled)", path, name)
		}
		if _, ok := c.prompts[key]; !ok {
			return nil, fmt.Errorf("prompt cache %s: tensor %q has no prompt in the metadata", path, name)
		}
		info, _ := f.Info(name)
		if part == "prompt_embeds" {
			if len(info.Shape) != 2 {
				return nil, fmt.Errorf("prompt cache %s: %s has shape %v, want [tokens, width]", path, name, info.Shape)
			}
			if c.Dim == 0 {
				c.SeqLen, c.Dim = info.Shape[0], info.Shape[1]
			} else if info.Shape[0] != c.SeqLen || info.Shape[1] != c.Dim {
				return nil, fmt.Errorf("prompt cache %s: %s has shape %v, other prompts [%d %d]", path, name, info.Shape, c.SeqLen, c.Dim)
			}
		} else {
			if len(info.Shape) != 1 {
				return nil, fmt.Errorf("prompt cache %s: %s has shape %v, want [width]", path, name, info.Shape)
			}
			if c.PooledDim == 0 {
				c.PooledDim = info.Shape[0]
			} else if info.Shape[0] != c.PooledDim {
				return nil, fmt.Errorf("prompt cache %s: %s has shape %v, other prompts [%d]", path, name, info.Shape, c.PooledDim)
			}
		}
		seen[key]++
	}
	for key, p := range c.prompts {
		if seen[key] != 2 {
			return nil, fmt.Errorf("prompt cache %s: prompt %q (%s) lacks its prompt_embeds or pooled tensor", path, p, key)
		}
	}
	return c, nil
}

// Close releases the file.
func (c *Cache) Close() error { return c.f.Close() }

// Len is the number of prompts in the cache (the empty prompt included, when present).
func (c *Cache) Len() int { return len(c.prompts) }

// Prompts lists the cached prompts, sorted.
func (c *Cache) Prompts() []string {
	out := make([]string, 0, len(c.prompts))
	for _, p := range c.prompts {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Has reports whether prompt is cached.
func (c *Cache) Has(prompt string) bool {
	_, ok := c.prompts[Key(prompt)]
	return ok
}

// AddCommand is the shell command that encodes prompt into this cache.
func (c *Cache) AddCommand(prompt string) string {
	model := c.Model
	if model == "" {
		model = "<SD3 model dir>"
	}
	return fmt.Sprintf("python3 tools/encode_prompts.py --model %s --out %s --update --prompt %s", shellQuote(model), shellQuote(c.Path), shellQuote(prompt))
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '/' || r == '.' || r == '-' || r == '_' || r == '+' || r == ':' || r == '@' ||
			(r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z'))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Entry is one prompt's embeddings, host float32.
type Entry struct {
	Embeds []float32 // [SeqLen·Dim], row-major
	Pooled []float32 // [PooledDim]
}

// Get reads one prompt's embeddings. A prompt that is not cached is an error that names it
// and the command that adds it.
func (c *Cache) Get(prompt string) (Entry, error) {
	key := Key(prompt)
	if stored, ok := c.prompts[key]; !ok || stored != prompt {
		if ok { // 64-bit hash collision: astronomically unlikely, but never return the wrong prompt
			return Entry{}, fmt.Errorf("prompt cache %s: prompt %q collides with cached %q on hash %s", c.Path, prompt, stored, key)
		}
		return Entry{}, fmt.Errorf("prompt %q is not in the embedding cache %s (%d prompts); add it with:\n  %s",
			prompt, c.Path, len(c.prompts), c.AddCommand(prompt))
	}
	e, err := c.f.Read(key + ".prompt_embeds")
	if err != nil {
		return Entry{}, fmt.Errorf("prompt cache: %w", err)
	}
	p, err := c.f.Read(key + ".pooled")
	if err != nil {
		return Entry{}, fmt.Errorf("prompt cache: %w", err)
	}
	return Entry{Embeds: e.Data, Pooled: p.Data}, nil
}

// Batch reads the embeddings of prompts, stacked: context [B·SeqLen·Dim] and pooled
// [B·PooledDim]. Every missing prompt is named in the error (up to 10), with one command that
// adds them all.
func (c *Cache) Batch(prompts []string) (context, pooled []float32, err error) {
	var missing []string
	for _, p := range prompts {
		if _, ok := c.prompts[Key(p)]; !ok {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return nil, nil, c.missingError(missing)
	}
	context = make([]float32, 0, len(prompts)*c.SeqLen*c.Dim)
	pooled = make([]float32, 0, len(prompts)*c.PooledDim)
	for _, p := range prompts {
		e, err := c.Get(p)
		if err != nil {
			return nil, nil, err
		}
		context, pooled = append(context, e.Embeds...), append(pooled, e.Pooled...)
	}
	return context, pooled, nil
}

// CheckAll returns an error naming every prompt of the list that is not cached (the empty
// prompt included when cfg is true), so a run fails before it starts rather than mid-way.
func (c *Cache) CheckAll(prompts []string, cfg bool) error {
	seen := map[string]bool{}
	var missing []string
	if cfg {
		prompts = append([]string{""}, prompts...)
	}
	for _, p := range prompts {
		if !seen[p] && !c.Has(p) {
			missing = append(missing, p)
		}
		seen[p] = true
	}
	if len(missing) > 0 {
		return c.missingError(missing)
	}
	return nil
}

func (c *Cache) missingError(missing []string) error {
	if len(missing) == 1 {
		_, err := c.Get(missing[0])
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d prompts are not in the embedding cache %s:", len(missing), c.Path)
	for i, p := range missing {
		if i == 10 {
			fmt.Fprintf(&b, "\n  … and %d more", len(missing)-10)
			break
		}
		fmt.Fprintf(&b, "\n  %q", p)
	}
	model := c.Model
	if model == "" {
		model = "<SD3 model dir>"
	}
	fmt.Fprintf(&b, "\nencode the whole prompt file into it with:\n  python3 tools/encode_prompts.py --model %s --out %s --update --prompts <prompt file>", shellQuote(model), shellQuote(c.Path))
	return fmt.Errorf("%s", b.String())
}

// CheckWidths returns an error unless the cache's embeddings have the widths a model expects:
// dim is the context embedder's input width, pooledDim the pooled projection's.
func (c *Cache) CheckWidths(dim, pooledDim int) error {
	if c.Dim != dim || c.PooledDim != pooledDim {
		return fmt.Errorf("prompt cache %s holds embeddings of width %d (pooled %d), but the model expects %d (pooled %d): it was encoded for another model; re-encode the prompts with tools/encode_prompts.py --model <this model>",
			c.Path, c.Dim, c.PooledDim, dim, pooledDim)
	}
	return nil
}
