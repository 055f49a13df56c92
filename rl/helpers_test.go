package rl

// Test models and checks shared by the loss tests.
//
//   - mlpModel: a small MLP velocity field v(x, t, c) on flat D-vectors, optionally added to an
//     exact base velocity (a Gaussian's), with LoRA adapters on every Linear.
//   - shiftModel: the exact velocity of N(μ + θ, Σ) for a learnable shift θ, parametrised as a
//     rank-1 LoRA on a zero Linear, so that the reference (adapters off) is N(μ, Σ)'s velocity.

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/tensor"
)

var cpu = tensor.CPU()

// mlpModel is v = base(x, t) + W3·tanh(W2·tanh(W1·[x, φ(t), cond] + b1) + b2) + b3, with time
// features φ(t) = (t, cos πt, sin πt, cos 2πt, sin 2πt) and cond the first token id of the prompt
// (scaled) so that prompts matter.
type mlpModel struct {
	L1, L2, L3 *nn.Linear
	D          int
	base       *diffusion.GMM // exact base velocity added to the network, or nil
}

const mlpExtra = 6 // time features and the prompt feature

func newMLP(D, hidden int, zeroLast bool, base *diffusion.GMM, seed uint64) *mlpModel {
	rng := tensor.NewRNG(seed)
	m := &mlpModel{D: D, base: base,
		L1: nn.NewLinear(cpu, D+mlpExtra, hidden, true, rng),
		L2: nn.NewLinear(cpu, hidden, hidden, true, rng),
	}
	if zeroLast {
		m.L3 = nn.NewLinearZero(cpu, hidden, D)
	} else {
		m.L3 = nn.NewLinear(cpu, hidden, D, true, rng)
	}
	return m
}

func (m *mlpModel) Children(visit func(name string, mod nn.Module)) {
	visit("l1", m.L1)
	visit("l2", m.L2)
	visit("l3", m.L3)
}

func (m *mlpModel) Params(prefix string, visit func(string, *tensor.Tensor)) {
	nn.ChildParams(m, prefix, visit)
}

func (m *mlpModel) Velocity(x *tensor.Tensor, sigma []float32, c diffusion.Cond) *tensor.Tensor {
	B := x.Dim(0)
	xf := tensor.Reshape(x, B, m.D)
	tc := make([]float32, 0, mlpExtra*B)
	for i := 0; i < B; i++ {
		s := float64(sigma[i])
		tc = append(tc, float32(s), float32(math.Cos(math.Pi*s)), float32(math.Sin(math.Pi*s)),
			float32(math.Cos(2*math.Pi*s)), float32(math.Sin(2*math.Pi*s)), 0)
		if c.L > 0 {
			tc[len(tc)-1] = 0.1 * float32(c.Tokens[i*c.L])
		}
	}
	h := tensor.Concat(1, xf, tensor.New(cpu, tc, B, mlpExtra))
	h = tensor.Tanh(m.L1.Forward(h))
	h = tensor.Tanh(m.L2.Forward(h))
	v := m.L3.Forward(h)
	if m.base != nil {
		v = tensor.Add(v, baseVelocity(m.base, xf, sigma))
	}
	return tensor.Reshape(v, x.Shape()...)
}

// baseVelocity evaluates the mixture's exact velocity row by row (each row has its own t; rows
// that share a t share the precomputed flow field).
func baseVelocity(g *diffusion.GMM, x *tensor.Tensor, sigma []float32) *tensor.Tensor {
	D := g.Dim()
	xs := x.Data()
	out := make([]float32, len(xs))
	row, v := make([]float64, D), make([]float64, D)
	var field *diffusion.FlowField
	for i, s := range sigma {
		if field == nil || field.T() != float64(s) {
			field = g.At(float64(s))
		}
		for d := 0; d < D; d++ {
			row[d] = float64(xs[i*D+d])
		}
		field.Velocity(v, row)
		for d := 0; d < D; d++ {
			out[i*D+d] = float32(v[d])
		}
	}
	return tensor.New(cpu, out, x.Shape()...)
}

// shiftModel is the exact rectified-flow velocity of N(μ + θ, Σ). For x0 ~ N(μ', Σ) the
// velocity is affine in μ': v(x, t; μ') = v(x, t; μ) − (I + (1−t)·K(t))·(μ' − μ) with
// K(t) = (t·I − (1−t)Σ)·C(t)⁻¹, C(t) = (1−t)²Σ + t²I — the derivative of
// K(x − (1−t)μ') − μ' in μ'. θ = (α/r)·B·A is a rank-1 LoRA on a zero Linear fed with a 1.
type shiftModel struct {
	Shift *nn.Linear // in 1, out D, zero base weight
	ref   *diffusion.GMM
	cov   []float64
}

func newShiftModel(ref *diffusion.GMM) *shiftModel {
	D := ref.Dim()
	return &shiftModel{Shift: nn.NewLinearZero(cpu, 1, D), ref: ref, cov: ref.Covs[0]}
}

func (m *shiftModel) Children(visit func(string, nn.Module)) { visit("shift", m.Shift) }
func (m *shiftModel) Params(prefix string, visit func(string, *tensor.Tensor)) {
	nn.ChildParams(m, prefix, visit)
}

func (m *shiftModel) Velocity(x *tensor.Tensor, sigma []float32, _ diffusion.Cond) *tensor.Tensor {
	B, D := x.Dim(0), m.ref.Dim()
	theta := tensor.Reshape(m.Shift.Forward(tensor.Full(cpu, 1, 1, 1)), 1, 1, D) // θ, shared by every row
	// Per-row matrix −(I + (1−t)K(t)) applied to θ: Σ_k J[b,d,k]·θ_k.
	mats := make([]float32, B*D*D)
	for i, s := range sigma {
		j := shiftJacobian(m.cov, D, float64(s))
		for k, v := range j {
			mats[i*D*D+k] = float32(-v)
		}
	}
	corr := tensor.Sum(tensor.Mul(tensor.New(cpu, mats, B, D, D), theta), 2)
	return tensor.Reshape(tensor.Add(baseVelocity(m.ref, tensor.Reshape(x, B, D), sigma), corr), x.Shape()...)
}

// shiftJacobian is I + (1−t)·K(t), row-major D×D, in float64.
func shiftJacobian(sigma []float64, D int, t float64) []float64 {
	c := make([]float64, D*D)
	for i := 0; i < D; i++ {
		for j := 0; j < D; j++ {
			c[i*D+j] = (1 - t) * (1 - t) * sigma[i*D+j]
			if i == j {
				c[i*D+j] += t * t
			}
		}
	}
	cInv := invert(c, D)
	out := make([]float64, D*D)
	for i := 0; i < D; i++ {
		for j := 0; j < D; j++ {
			k := 0.0 // (t·I − (1−t)Σ) C⁻¹
			for l := 0; l < D; l++ {
				a := -(1 - t) * sigma[i*D+l]
				if i == l {
					a += t
				}
				k += a * cInv[l*D+j]
			}
			out[i*D+j] = (1 - t) * k
			if i == j {
				out[i*D+j]++
			}
		}
	}
	return out
}

// invert is Gauss–Jordan inversion of a small well-conditioned matrix.
func invert(a []float64, D int) []float64 {
	m := append([]float64(nil), a...)
	inv := make([]float64, D*D)
	for i := 0; i < D; i++ {
		inv[i*D+i] = 1
	}
	for col := 0; col < D; col++ {
		p := m[col*D+col]
		for j := 0; j < D; j++ {
			m[col*D+j] /= p
			inv[col*D+j] /= p
		}
		for r := 0; r < D; r++ {
			if r == col {
				continue
			}
			f := m[r*D+col]
			for j := 0; j < D; j++ {
				m[r*D+j] -= f * m[col*D+j]
				inv[r*D+j] -= f * inv[col*D+j]
			}
		}
	}
	return inv
}

// testCond makes B one-token prompts with the given ids.
func testCond(ids ...int32) diffusion.Cond {
	c := diffusion.Cond{B: len(ids), L: 1}
	for _, id := range ids {
		c.Tokens = append(c.Tokens, id)
		c.Mask = append(c.Mask, 1)
	}
	return c
}

// randomizeAdapter gives the named adapter random non-zero weights (a policy away from θ_ref).
func randomizeAdapter(m nn.Module, name string, std float64, seed uint64) {
	rng := tensor.NewRNG(seed)
	for _, p := range nn.AdapterParams(m, name) {
		nn.InitNormal(p.P, rng, std)
	}
}

// grads returns the concatenated gradients of ps (zeros where a parameter got none).
func grads(ps []nn.Named) []float64 {
	var out []float64
	for _, p := range ps {
		if g := p.P.Grad(); g != nil {
			out = append(out, f64(g.Data())...)
		} else {
			out = append(out, make([]float64, p.P.Size())...)
		}
	}
	return out
}

func zeroGrads(ps []nn.Named) {
	for _, p := range ps {
		p.P.ZeroGrad()
	}
}

func f64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// checkClose applies the tolerance rule |got − want| ≤ atol + rtol·|want| element-wise and on
// failure reports the worst element and the first few pairs.
func checkClose(t *testing.T, what string, got, want []float64, atol, rtol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	worst, worstExcess := -1, 0.0
	for i := range got {
		excess := math.Abs(got[i]-want[i]) - (atol + rtol*math.Abs(want[i]))
		if math.IsNaN(got[i]) || math.IsNaN(want[i]) {
			excess = math.Inf(1)
		}
		if excess > worstExcess {
			worst, worstExcess = i, excess
		}
	}
	if worst < 0 {
		return
	}
	var sb strings.Builder
	for i := 0; i < len(got) && i < 5; i++ {
		fmt.Fprintf(&sb, " [%d] %.9g vs %.9g;", i, got[i], want[i])
	}
	t.Fatalf("%s: worst element %d: got %.9g, want %.9g (|diff| %.3g > atol %g + rtol %g·|want|); first pairs:%s",
		what, worst, got[worst], want[worst], math.Abs(got[worst]-want[worst]), atol, rtol, sb.String())
}

// maxAbs is the largest |v_i|.
func maxAbs(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, math.Abs(x))
	}
	return m
}

// newLoRAPolicies puts a "policy" adapter of rank r on every Linear of m, freezes the base and
// returns the policies and the trained parameters.
func newLoRAPolicies(m Model, r int, seed uint64) (*Policies, []nn.Named) {
	nn.AddAdapter(m, PolicyAdapter, r, float32(r), tensor.NewRNG(seed), nil)
	nn.FreezeBase(m)
	return NewPolicies(m), nn.AdapterParams(m, PolicyAdapter)
}

// heunSample integrates dx = v dt from the noise x along grid with Heun's second-order method
// (the Euler ODE's covariance error would bias the fixed-point tests), without the tape.
func heunSample(m diffusion.VelocityModel, x *tensor.Tensor, grid []float64, c diffusion.Cond) *tensor.Tensor {
	B := x.Dim(0)
	level := func(s float64) []float32 {
		out := make([]float32, B)
		for i := range out {
			out[i] = float32(s)
		}
		return out
	}
	tensor.NoGrad(func() {
		for i := 0; i+1 < len(grid); i++ {
			dt := grid[i+1] - grid[i]
			v0 := m.Velocity(x, level(grid[i]), c)
			pred := diffusion.EulerStep(x, v0, dt)
			v1 := m.Velocity(pred, level(grid[i+1]), c)
			x = diffusion.EulerStep(x, tensor.MulScalar(tensor.Add(v0, v1), 0.5), dt)
		}
	})
	return x
}
