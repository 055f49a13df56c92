// Command embedcache writes and inspects prompt-embedding caches (diffusion/prompts).
//
// Real caches come from the model's text encoders, in Python:
//
//	python3 tools/encode_prompts.py --model <SD3 dir> --prompts train.txt --out cache.safetensors
//
// This command writes caches of random vectors with the same layout, for tests and the small
// random SD3-structured model (the vectors mean nothing), and lists what a cache holds:
//
//	go run ./cmd/embedcache -random -prompts train.txt -out cache.safetensors -seq 333 -dim 4096 -pooled 2048
//	go run ./cmd/embedcache -list cache.safetensors
package main

import (
	"flag"
	"fmt"
	"github.com/flowtune/flowtune/internal/cli"
	"io"
	"os"

	"github.com/flowtune/flowtune/diffusion/prompts"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// repeated is a flag that may be given several times.
type repeated []string

func (r *repeated) String() string     { return fmt.Sprint(*r) }
func (r *repeated) Set(s string) error { *r = append(*r, s); return nil }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("embedcache", flag.ContinueOnError)
	fs.SetOutput(stderr)
	random := fs.Bool("random", false, "write a cache of random vectors (for tests and random-weight models)")
	list := fs.String("list", "", "print the widths and prompts of a cache file")
	out := fs.String("out", "", "cache file to write (with -random)")
	var files, texts repeated
	fs.Var(&files, "prompts", "prompt file, .txt or .jsonl (repeatable)")
	fs.Var(&texts, "prompt", "one prompt (repeatable)")
	seq := fs.Int("seq", 333, "context tokens per prompt")
	dim := fs.Int("dim", 4096, "context width (the transformer's joint_attention_dim)")
	pooled := fs.Int("pooled", 2048, "pooled width (the transformer's pooled_projection_dim)")
	seed := fs.Uint64("seed", 1, "random seed")
	bf16 := fs.Bool("bf16", false, "store bfloat16 instead of float32")
	if err := cli.Parse(fs, args, stdout); err != nil {
		return cli.Report(stderr, "embedcache", err)
	}
	if *list != "" {
		c, err := prompts.Open(*list)
		if err != nil {
			fmt.Fprintln(stderr, "embedcache:", err)
			return 1
		}
		defer c.Close()
		fmt.Fprintf(stdout, "%s: %d prompts, prompt_embeds [%d, %d], pooled [%d], model %q\n", c.Path, c.Len(), c.SeqLen, c.Dim, c.PooledDim, c.Model)
		for _, p := range c.Prompts() {
			fmt.Fprintf(stdout, "%s  %q\n", prompts.Key(p), p)
		}
		return 0
	}
	if !*random || *out == "" {
		fmt.Fprintln(stderr, "embedcache: give -list FILE, or -random -out FILE with -prompts/-prompt (real embeddings: python3 tools/encode_prompts.py)")
		return 2
	}
	all := append([]string(nil), texts...)
	for _, f := range files {
		ps, err := prompts.ReadSet(f)
		if err != nil {
			fmt.Fprintln(stderr, "embedcache:", err)
			return 1
		}
		all = append(all, prompts.Texts(ps)...)
	}
	o := prompts.WriteOptions{SeqLen: *seq, Dim: *dim, PooledDim: *pooled, BF16: *bf16}
	if o.SeqLen <= 0 || o.Dim <= 0 || o.PooledDim <= 0 {
		fmt.Fprintln(stderr, "embedcache: -seq, -dim and -pooled must be positive")
		return 2
	}
	if err := prompts.WriteRandom(*out, all, o, *seed); err != nil {
		fmt.Fprintln(stderr, "embedcache:", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %s: random embeddings for %d prompts and the empty prompt\n", *out, len(all))
	return 0
}
