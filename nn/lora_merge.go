package nn

// Adapters outside training: attaching saved adapter weights to a model, and folding an
// adapter into its layers' base weights (a merged model that needs no adapter at all).

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/flowtune/flowtune/tensor"
)

// LoadAdapter puts an adapter called name on every Linear of m that ts has weights for, and
// fills it with them. ts maps PEFT names, <layer path>.lora_A.<from>.weight and
// <layer path>.lora_B.<from>.weight (as AdapterParams and a saved adapter file name them), to
// host tensors; the rank comes from their shapes and the scale is alpha/rank. It returns the
// number of layers adapted. Every problem (a name that is not an adapter weight, a layer m does
// not have, a missing half, shapes that do not fit the layer, a non-finite value) is reported
// at once, naming the tensors, and m is left unchanged.
func LoadAdapter(m Module, name string, ts map[string]HostTensor, from string, alpha float32) (int, error) {
	checkAdapterName("LoadAdapter", name)
	if !(alpha > 0) || math.IsInf(float64(alpha), 0) {
		return 0, fmt.Errorf("adapter %q: alpha must be a positive number (got %g)", from, alpha)
	}
	layers := map[string]*Linear{}
	eachLinear(m, func(path string, l *Linear) { layers[path] = l })
	type pair struct{ a, b *HostTensor }
	pairs := map[string]*pair{}
	var problems []string
	for key := range ts {
		t := ts[key]
		path, half, ok := splitAdapterName(key, from)
		if !ok {
			problems = append(problems, fmt.Sprintf("%q is not a weight of adapter %q (want <layer>.lora_A.%s.weight or .lora_B)", key, from, from))
			continue
		}
		if layers[path] == nil {
			problems = append(problems, fmt.Sprintf("%q: the model has no Linear layer %q", key, path))
			continue
		}
		p := pairs[path]
		if p == nil {
			p = &pair{}
			pairs[path] = p
		}
		if half == "A" {
			p.a = &t
		} else {
			p.b = &t
		}
		for _, v := range t.Data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				problems = append(problems, fmt.Sprintf("%q holds a non-finite value (%g)", key, v))
				break
			}
		}
	}
	for path, p := range pairs {
		l := layers[path]
		switch {
		case p.a == nil || p.b == nil:
			problems = append(problems, fmt.Sprintf("layer %q has only one of lora_A and lora_B", path))
		case len(p.a.Shape) != 2 || len(p.b.Shape) != 2 || p.a.Shape[0] < 1 || p.a.Shape[1] != l.In() ||
			p.b.Shape[0] != l.Out() || p.b.Shape[1] != p.a.Shape[0]:
			problems = append(problems, fmt.Sprintf("layer %q [%d out, %d in]: lora_A %v and lora_B %v do not fit (want [r, %d] and [%d, r])",
				path, l.Out(), l.In(), p.a.Shape, p.b.Shape, l.In(), l.Out()))
		case l.Adapter(name) != nil:
			problems = append(problems, fmt.Sprintf("layer %q already has an adapter %q", path, name))
		}
	}
	if len(pairs) == 0 && len(problems) == 0 {
		problems = append(problems, fmt.Sprintf("no weights of adapter %q", from))
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return 0, fmt.Errorf("adapter %q does not fit the model: %s", from, strings.Join(problems, "; "))
	}
	for path, p := range pairs {
		l := layers[path]
		b := l.Weight.Backend()
		r := p.a.Shape[0]
		l.adapters = append(l.adapters, &LoRA{Name: name, Rank: r, Alpha: alpha,
			A: tensor.New(b, append([]float32(nil), p.a.Data...), r, l.In()),
			B: tensor.New(b, append([]float32(nil), p.b.Data...), l.Out(), r)})
	}
	return len(pairs), nil
}

// splitAdapterName splits <path>.lora_A.<from>.weight into path and "A" (or "B").
func splitAdapterName(key, from string) (path, half string, ok bool) {
	for _, h := range []string{"A", "B"} {
		suffix := ".lora_" + h + "." + from + ".weight"
		if p, found := strings.CutSuffix(key, suffix); found && p != "" {
			return p, h, true
		}
	}
	return "", "", false
}

// MergeAdapter folds the named adapter into the base weights of every layer that has it,
// W ← W + (alpha/r)·B·A, and removes it, so that the plain layers compute what the adapted ones
// did (up to float32 rounding). The sum is accumulated in float64. It returns the number of
// layers merged and panics when no layer has the adapter.
func MergeAdapter(m Module, name string) int {
	n := 0
	eachLinear(m, func(path string, l *Linear) {
		a := l.Adapter(name)
		if a == nil {
			return
		}
		w, A, B := l.Weight.Data(), a.A.Data(), a.B.Data()
		in, out, r := l.In(), l.Out(), a.Rank
		s := float64(a.Scale())
		for o := 0; o < out; o++ {
			for i := 0; i < in; i++ {
				acc := 0.0
				for k := 0; k < r; k++ {
					acc += float64(B[o*r+k]) * float64(A[k*in+i])
				}
				w[o*in+i] = float32(float64(w[o*in+i]) + s*acc)
			}
		}
		copyParam(l.Weight, tensor.New(l.Weight.Backend(), w, out, in))
		if l.active == a {
			l.active = nil
		}
		kept := l.adapters[:0]
		for _, x := range l.adapters {
			if x != a {
				kept = append(kept, x)
			}
		}
		l.adapters = kept
		n++
	})
	if n == 0 {
		panic(fmt.Sprintf("nn.MergeAdapter: no layer has adapter %q", name))
	}
	return n
}
