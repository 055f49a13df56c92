package diffusion

import (
	"testing"

	"github.com/flowtune/flowtune/tensor"
)

// BenchmarkSampleGroup times what one RL rollout costs with the default model: a group of 8
// images, 10 Euler steps, no CFG.
func BenchmarkSampleGroup(b *testing.B) {
	be := tensor.CPU()
	m, err := NewModel(be, DefaultModelConfig(64, 12))
	if err != nil {
		b.Fatal(err)
	}
	perturb(m, 1)
	c := tinyCond(8)
	c12 := Cond{B: 8, L: 12}
	for i := 0; i < 8; i++ {
		c12.Tokens = append(c12.Tokens, append(c.Row(i).Tokens, make([]int32, 8)...)...)
		c12.Mask = append(c12.Mask, append(c.Row(i).Mask, make([]float32, 8)...)...)
	}
	grid := SigmaGrid(10, 3)
	b.ReportMetric(float64(CountParamsOf(m)), "params")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		x := tensor.NewRNG(uint64(i)).Normal(be, 8, 3, 32, 32)
		SampleODE(m, x, grid, c12)
	}
}
