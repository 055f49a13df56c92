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

// The normal stream packs four positions into one Philox call: position p takes lane p mod 4
// of the block at counter (lo32(p/4), hi32(p/4), PhiloxNormalDomain, 0). The third counter word
// keeps these blocks apart from the uniform stream's (0) and Intn's (1), so a uniform and a
// normal draw at overlapping offsets of one RNG never share random bits.
const PhiloxNormalDomain = 2

// PhiloxNormal4 returns the four standard normals of normal-stream block `block` (positions
// 4·block … 4·block+3): Box–Muller on the output pairs (0,1) and (2,3), each uniform in (0,1]:
// R = √(−2 ln u_a), z_a = R·cos 2πu_b, z_b = R·sin 2πu_b. Computed in float64 and rounded once;
// a device may use float32 (within a few ulp).
func PhiloxNormal4(seed, block uint64) [4]float32 {
	r0, r1, r2, r3 := Philox(seed, uint32(block), uint32(block>>32), PhiloxNormalDomain, 0)
	var z [4]float32
	for h, pair := range [2][2]uint32{{r0, r1}, {r2, r3}} {
		r := math.Sqrt(-2 * math.Log(float64(Uint32ToUniform(pair[0]))))
		sn, cs := math.Sincos(2 * math.Pi * float64(Uint32ToUniform(pair[1])))
		z[2*h], z[2*h+1] = float32(r*cs), float32(r*sn)
	}
	return z
}

// PhiloxNormal is element idx of the normal stream (RandNormal at offset o fills element i with
// PhiloxNormal(seed, o+i)).
func PhiloxNormal(seed, idx uint64) float32 {
	return PhiloxNormal4(seed, idx/4)[idx%4]
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
	t := Empty(b, shape...)
	b.RandNormal(t.data, r.Seed, r.Offset)
	r.Offset += uint64(t.Size())
	return t
}

// Uniform draws a (0,1]-uniform tensor of the given shape on backend b.
func (r *RNG) Uniform(b Backend, shape ...int) *Tensor {
	t := Empty(b, shape...)
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

// Perm is a Fisher–Yates permutation of 0…n−1, drawing n−1 host-side integers (Intn).
func (r *RNG) Perm(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := r.Intn(i + 1)
		p[i], p[j] = p[j], p[i]
	}
	return p
}
