package diffusion

import (
	"math"
	"testing"

	"github.com/flowtune/flowtune/tensor"
)

// pointMass is the exact velocity of the data distribution that is the single image target:
// x_σ = (1−σ)·target + σ·ε gives v = ε − target = (x − target)/σ. Scale ≠ 1 makes it wrong.
type pointMass struct {
	target *tensor.Tensor
	scale  float32
}

func (p pointMass) Velocity(x *tensor.Tensor, sigma []float32, _ Cond) *tensor.Tensor {
	inv := make([]float32, len(sigma))
	for i, s := range sigma {
		inv[i] = p.scale / s
	}
	return tensor.Mul(tensor.Sub(x, p.target), perSample(x, inv))
}

func TestTailGrid(t *testing.T) {
	grid := SigmaGrid(10, 3)
	for _, s0 := range []float64{1, 0.9, 0.5, 0.01} {
		tail := TailGrid(grid, s0)
		if tail[0] != s0 || tail[len(tail)-1] != 0 {
			t.Fatalf("σ0 %g: tail %v must start at σ0 and end at 0", s0, tail)
		}
		for i := 1; i < len(tail); i++ {
			if !(tail[i] < tail[i-1]) {
				t.Fatalf("σ0 %g: tail %v does not decrease", s0, tail)
			}
		}
		want := 1 // σ0 itself
		for _, s := range grid {
			if s < s0 {
				want++
			}
		}
		if len(tail) != want {
			t.Fatalf("σ0 %g: %d levels, want %d", s0, len(tail), want)
		}
	}
	if got := TailGrid(grid, 1); len(got) != len(grid) {
		t.Fatalf("σ0 = 1 must give the whole grid, got %d of %d levels", len(got), len(grid))
	}
	for _, bad := range []float64{0, -0.1, 1.5, math.NaN()} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("TailGrid(σ0 = %g) did not panic", bad)
				}
			}()
			TailGrid(grid, bad)
		}()
	}
}

// With the exact velocity, Restore returns the clean images from every level below 1 on coarse
// and fine grids; a velocity that is off by 20% does not.
func TestRestoreWithExactVelocity(t *testing.T) {
	b := tensor.CPU()
	rng := tensor.NewRNG(3)
	x0 := rng.Normal(b, 2, 3, 4, 4)
	eps := rng.Normal(b, 2, 3, 4, 4)
	maxDiff := func(a, c *tensor.Tensor) float64 {
		d := 0.0
		for i, v := range a.Data() {
			d = math.Max(d, math.Abs(float64(v-c.Data()[i])))
		}
		return d
	}
	for _, steps := range []int{1, 3, 10} {
		for _, s0 := range []float64{0.3, 0.7, 0.95} {
			got := Restore(pointMass{x0, 1}, x0, eps, s0, SigmaGrid(steps, 3), Cond{B: 2})
			if d := maxDiff(got, x0); d > 1e-5 {
				t.Errorf("%d steps from σ0 %g: restored images differ from x0 by %g", steps, s0, d)
			}
			wrong := Restore(pointMass{x0, 0.8}, x0, eps, s0, SigmaGrid(steps, 3), Cond{B: 2})
			if d := maxDiff(wrong, x0); d < 1e-3 {
				t.Errorf("%d steps from σ0 %g: a 20%%-wrong velocity restored x0 to %g", steps, s0, d)
			}
		}
	}
}
