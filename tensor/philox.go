package tensor

import "math"

// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11): a
// counter-based generator, so element i of any random tensor is a pure function of
// (seed, offset+i). The CPU and CUDA backends both compute exactly this, which makes a seeded
// run reproducible across devices up to float rounding of the transforms below.

const (
	philoxM0 = 0xD2511F53
	philoxM1 = 0xCD9E8D57
	philoxW0 = 0x9E3779B9
	philoxW1 = 0xBB67AE85
)

// Philox returns the four 32-bit outputs for a 128-bit counter (c0..c3) under a 64-bit key.
func Philox(key uint64, c0, c1, c2, c3 uint32) (uint32, uint32, uint32, uint32) {
	k0, k1 := uint32(key), uint32(key>>32)
	for r := 0; r < 10; r++ {
		p0 := uint64(philoxM0) * uint64(c0)
		p1 := uint64(philoxM1) * uint64(c2)
		hi0, lo0 := uint32(p0>>32), uint32(p0)
		hi1, lo1 := uint32(p1>>32), uint32(p1)
		c0, c1, c2, c3 = hi1^c1^k0, lo1, hi0^c3^k1, lo0
		k0 += philoxW0
		k1 += philoxW1
	}
	return c0, c1, c2, c3
}

// The counter of element i at stream offset off is (lo32(off+i), hi32(off+i), 0, 0).

// Uint32ToUniform maps 32 random bits to (0, 1]: never 0, so log() is safe.
func Uint32ToUniform(u uint32) float32 {
	return (float32(u>>8) + 1) * (1.0 / 16777216.0)
}

// PhiloxUniform is element i of RandUniform: uniform in (0, 1].
func PhiloxUniform(seed, idx uint64) float32 {
	r0, _, _, _ := Philox(seed, uint32(idx), uint32(idx>>32), 0, 0)
	return Uint32ToUniform(r0)
}

// PhiloxNormal is element i of RandNormal: a standard normal from the Box–Muller transform of
// the first two outputs, u1 ∈ (0,1], u2 ∈ (0,1]: z = √(−2 ln u1)·cos(2π u2). Computed in
// float32 with the same formula on every backend.
func PhiloxNormal(seed, idx uint64) float32 {
	r0, r1, _, _ := Philox(seed, uint32(idx), uint32(idx>>32), 0, 0)
	u1, u2 := Uint32ToUniform(r0), Uint32ToUniform(r1)
	return float32(math.Sqrt(-2*math.Log(float64(u1))) * math.Cos(2*math.Pi*float64(u2)))
}

// RNG is a seeded stream: each draw takes the next block of counters, so the state is just
// (Seed, Offset) and a checkpoint that stores both resumes the exact same sequence.
type RNG struct {
	Seed   uint64
	Offset uint64
}

// NewRNG starts a stream at offset 0.
func NewRNG(seed uint64) *RNG { return &RNG{Seed: seed} }

// Normal draws a standard-normal tensor of the given shape on backend b.
func (r *RNG) Normal(b Backend, shape ...int) *Tensor {
	t := Zeros(b, shape...)
	b.RandNormal(t.data, r.Seed, r.Offset)
	r.Offset += uint64(t.Size())
	return t
}

// Uniform draws a (0,1]-uniform tensor of the given shape on backend b.
func (r *RNG) Uniform(b Backend, shape ...int) *Tensor {
	t := Zeros(b, shape...)
	b.RandUniform(t.data, r.Seed, r.Offset)
	r.Offset += uint64(t.Size())
	return t
}

// Float64 draws one host-side uniform in (0,1] (for choices made in Go: timesteps, prompts).
func (r *RNG) Float64() float64 {
	v := PhiloxUniform(r.Seed, r.Offset)
	r.Offset++
	return float64(v)
}

// NormFloat64 draws one host-side standard normal.
func (r *RNG) NormFloat64() float64 {
	v := PhiloxNormal(r.Seed, r.Offset)
	r.Offset++
	return float64(v)
}

// Intn draws a host-side integer in [0, n).
func (r *RNG) Intn(n int) int {
	a, _, _, _ := Philox(r.Seed, uint32(r.Offset), uint32(r.Offset>>32), 1, 0)
	r.Offset++
	return int(uint64(a) * uint64(n) >> 32)
}
