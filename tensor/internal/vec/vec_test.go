package vec

import (
	"math"
	"math/rand/v2"
	"testing"
)

// awkward are the values every vector form is checked on besides random bit patterns: signed
// zeros, subnormals, values near float32's range, infinities and a NaN.
var awkward = []float32{0, float32(math.Copysign(0, -1)), 1e-45, -1e-40, 3e38, -3e38,
	float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 1e-20, 1}

// TestVectorIsScalar checks Apply against the Go loop bit for bit, for every op, lengths
// around the vector width, operands that alias the output, and awkward values: signed zeros,
// subnormals, infinities, NaNs and values whose sum or product overflows or underflows.
func TestVectorIsScalar(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	special := awkward
	val := func() float32 {
		if rng.IntN(4) == 0 {
			return special[rng.IntN(len(special))]
		}
		return math.Float32frombits(rng.Uint32())
	}
	for _, op := range []Op{OpAdd, OpSub, OpMul} {
		for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1000} {
			a, b := make([]float32, n+3), make([]float32, n+3)
			for i := range a {
				a[i], b[i] = val(), val()
			}
			want := make([]float32, n)
			scalar(op, want, a, b)
			got := make([]float32, n)
			Apply(op, got, a, b)
			same(t, op, n, "fresh output", got, want)
			alias := append([]float32(nil), a[:n]...)
			Apply(op, alias, alias, b)
			same(t, op, n, "d = a", alias, want)
		}
	}
}

// TestScalarFormsAreLoops checks ApplyScalar and Max against their Go loops bit for bit, over
// the same awkward values, with zeros of both signs and NaNs placed in every lane.
func TestScalarFormsAreLoops(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	neg0 := float32(math.Copysign(0, -1))
	nan := float32(math.NaN())
	special := []float32{0, neg0, 1e-45, -1e-40, 3e38, -3e38, float32(math.Inf(1)), float32(math.Inf(-1)), nan, 1}
	for trial := range 400 {
		n := []int{0, 1, 7, 8, 9, 16, 23, 64, 141}[trial%9]
		x := make([]float32, n)
		for i := range x {
			switch rng.IntN(3) {
			case 0:
				x[i] = special[rng.IntN(len(special))]
			case 1:
				x[i] = []float32{0, neg0, nan, -1}[rng.IntN(4)] // ties of zeros, NaNs, all below zero
			default:
				x[i] = math.Float32frombits(rng.Uint32())
			}
			if trial%2 == 1 && x[i] > 0 { // no positive values: the maximum is often a zero
				x[i] = -x[i]
			}
		}
		want := float32(math.Inf(-1))
		for _, v := range x {
			if v > want {
				want = v
			}
		}
		if got := Max(x); math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("Max(%v) = %g (%#x), want %g (%#x)", x, got, math.Float32bits(got), want, math.Float32bits(want))
		}
		sv := special[rng.IntN(len(special))]
		for _, op := range []Op{OpAdd, OpSub, OpMul} {
			b := make([]float32, n)
			for i := range b {
				b[i] = sv
			}
			wantD := make([]float32, n)
			scalar(op, wantD, x, b)
			got := make([]float32, n)
			ApplyScalar(op, got, x, sv)
			same(t, op, n, "ApplyScalar", got, wantD)
		}
	}
}

func same(t *testing.T, op Op, n int, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		g, w := math.Float32bits(got[i]), math.Float32bits(want[i])
		if g != w && !(got[i] != got[i] && want[i] != want[i]) {
			t.Fatalf("op %d, n=%d, %s: element %d is %g (%#x), want %g (%#x)", op, n, what, i, got[i], g, want[i], w)
		}
	}
}

func TestApplyRefusesShortOperands(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("a short operand was accepted")
		}
	}()
	Add(make([]float32, 4), make([]float32, 4), make([]float32, 3))
}

// BenchmarkAdd: Apply (the vector path where there is one) beside the Go loop alone, on
// operands of 256 KiB, in L2 as most of the model's activations are.
func BenchmarkAdd(b *testing.B) {
	const n = 1 << 16
	x, y, z := make([]float32, n), make([]float32, n), make([]float32, n)
	b.Run("apply", func(b *testing.B) {
		b.SetBytes(3 * 4 * n)
		for b.Loop() {
			Add(z, x, y)
		}
	})
	b.Run("go", func(b *testing.B) {
		b.SetBytes(3 * 4 * n)
		for b.Loop() {
			scalar(OpAdd, z, x, y)
		}
	})
}
