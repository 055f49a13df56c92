package nn

import (
	"fmt"
	"slices"
	"strings"

	"github.com/flowtune/flowtune/tensor"
)

// LoRA is one low-rank adapter on a Linear, with PEFT semantics: the layer computes
// x·Wᵀ + b + (Alpha/Rank)·(x·Aᵀ)·Bᵀ. A [r, in] starts as N(0, (1/r)²) (PEFT's "gaussian"
// init) and B [out, r] as zero, so a fresh adapter changes nothing.
//
// Several adapters can sit on one base: the trained policy, a frozen "old" snapshot, an EMA.
// The reference model is the base with no adapter active.
type LoRA struct {
	Name  string
	Rank  int
	Alpha float32
	A     *tensor.Tensor // [r, in]
	B     *tensor.Tensor // [out, r]
}

// Scale is Alpha/Rank, the factor on the adapter's output.
func (a *LoRA) Scale() float32 { return a.Alpha / float32(a.Rank) }

func checkAdapterName(op, name string) {
	if name == "" || strings.ContainsAny(name, ". ") {
		panic(fmt.Sprintf("nn.%s: adapter name %q must be non-empty without dots or spaces", op, name))
	}
}

// AddAdapter puts a fresh adapter of rank r on l and returns it. Its weights require gradients.
// It does not activate it.
func (l *Linear) AddAdapter(name string, r int, alpha float32, rng *tensor.RNG) *LoRA {
	checkAdapterName("Linear.AddAdapter", name)
	if l.Adapter(name) != nil {
		panic(fmt.Sprintf("nn.Linear.AddAdapter: adapter %q already exists", name))
	}
	if r <= 0 {
		panic(fmt.Sprintf("nn.Linear.AddAdapter: rank %d must be positive", r))
	}
	b := l.Weight.Backend()
	a := &LoRA{Name: name, Rank: r, Alpha: alpha, A: newParam(b, r, l.In()), B: newParam(b, l.Out(), r)}
	InitNormal(a.A, rng, 1/float64(r))
	l.adapters = append(l.adapters, a)
	return a
}

// Adapter returns the adapter with the given name, or nil.
func (l *Linear) Adapter(name string) *LoRA {
	for _, a := range l.adapters {
		if a.Name == name {
			return a
		}
	}
	return nil
}

// Adapters lists the adapters in the order they were added.
func (l *Linear) Adapters() []*LoRA { return append([]*LoRA(nil), l.adapters...) }

// Use activates the named adapter; "" switches adapters off (base layer only).
func (l *Linear) Use(name string) {
	if name == "" {
		l.active = nil
		return
	}
	a := l.Adapter(name)
	if a == nil {
		panic(fmt.Sprintf("nn.Linear.Use: no adapter %q", name))
	}
	l.active = a
}

// Active returns the active adapter's name, or "" when none is.
func (l *Linear) Active() string {
	if l.active == nil {
		return ""
	}
	return l.active.Name
}

// eachLinear calls f for every Linear in m with its path.
func eachLinear(m Module, f func(path string, l *Linear)) {
	Walk(m, func(path string, mod Module) {
		if l, ok := mod.(*Linear); ok {
			f(path, l)
		}
	})
}

// AddAdapter puts a fresh rank-r adapter called name on every Linear of m whose path passes
// filter (nil: every Linear), drawing A from rng in walking order, and returns how many layers
// got one. Flow-GRPO and AWM adapt the attention q/k/v/out projections of both streams, e.g.
// filter = func(p string) bool { return strings.Contains(p, ".attn.") }. It panics when no layer
// matches (usually a module that does not implement Parent, or a wrong filter).
func AddAdapter(m Module, name string, r int, alpha float32, rng *tensor.RNG, filter func(path string) bool) int {
	n := 0
	eachLinear(m, func(path string, l *Linear) {
		if filter == nil || filter(path) {
			l.AddAdapter(name, r, alpha, rng)
			n++
		}
	})
	if n == 0 {
		panic(fmt.Sprintf("nn.AddAdapter: no Linear layer matched the filter for adapter %q", name))
	}
	return n
}

// UseAdapter activates the named adapter on every layer that has it and switches all other
// layers to their base weights; "" switches every adapter off (the reference model). It panics
// when no layer has the adapter.
func UseAdapter(m Module, name string) {
	found := name == ""
	eachLinear(m, func(_ string, l *Linear) {
		if name != "" && l.Adapter(name) != nil {
			l.Use(name)
			found = true
		} else {
			l.Use("")
		}
	})
	if !found {
		panic(fmt.Sprintf("nn.UseAdapter: no layer has adapter %q", name))
	}
}

// ActiveAdapter returns the name of the adapter active on m's layers, or "" when none is. It
// panics if two different adapters are active at once, which only direct Linear.Use calls can
// cause. (Layers without the adapter run their base weights and do not count.)
func ActiveAdapter(m Module) string {
	active := ""
	eachLinear(m, func(path string, l *Linear) {
		switch a := l.Active(); {
		case a == "" || a == active:
		case active == "":
			active = a
		default:
			panic(fmt.Sprintf("nn.ActiveAdapter: layer %s uses %q, another layer %q", path, a, active))
		}
	})
	return active
}

// HasAdapter reports whether any layer of m has the named adapter.
func HasAdapter(m Module, name string) bool {
	has := false
	eachLinear(m, func(_ string, l *Linear) { has = has || l.Adapter(name) != nil })
	return has
}

// CopyAdapter copies the weights of adapter src into adapter dst on every layer that has src
// (snapshotting the policy as the "old" policy, or seeding an EMA). A missing dst is created
// with src's rank and alpha; created weights do not require gradients (snapshots are not
// trained). Ranks must agree where dst exists.
func CopyAdapter(m Module, dst, src string) {
	checkAdapterName("CopyAdapter", dst)
	if dst == src {
		panic(fmt.Sprintf("nn.CopyAdapter: source and destination are both %q", src))
	}
	found := false
	eachLinear(m, func(path string, l *Linear) {
		s := l.Adapter(src)
		if s == nil {
			return
		}
		found = true
		d := l.Adapter(dst)
		if d == nil {
			b := l.Weight.Backend()
			d = &LoRA{Name: dst, Rank: s.Rank, Alpha: s.Alpha,
				A: tensor.Zeros(b, s.A.Shape()...), B: tensor.Zeros(b, s.B.Shape()...)}
			l.adapters = append(l.adapters, d)
		}
		if d.Rank != s.Rank {
			panic(fmt.Sprintf("nn.CopyAdapter: at %s adapter %q has rank %d, %q has %d", path, dst, d.Rank, src, s.Rank))
		}
		d.Alpha = s.Alpha
		copyParam(d.A, s.A)
		copyParam(d.B, s.B)
	})
	if !found {
		panic(fmt.Sprintf("nn.CopyAdapter: no layer has adapter %q", src))
	}
}

// AdapterParams lists the weights of the named adapter (A then B per layer, walking order):
// the parameter list of a LoRA optimiser or EMA.
func AdapterParams(m Module, name string) []Named {
	var out []Named
	eachLinear(m, func(path string, l *Linear) {
		if a := l.Adapter(name); a != nil {
			out = append(out,
				Named{Join(path, "lora_A."+name+".weight"), a.A},
				Named{Join(path, "lora_B."+name+".weight"), a.B})
		}
	})
	return out
}

// copyParam overwrites dst's elements with src's (same shape).
func copyParam(dst, src *tensor.Tensor) {
	if !slices.Equal(dst.Shape(), src.Shape()) {
		panic(fmt.Sprintf("nn.copyParam: shapes %v and %v", dst.Shape(), src.Shape()))
	}
	dst.Backend().Copy(dst.Storage(), 0, src.Storage(), 0, src.Size())
}
