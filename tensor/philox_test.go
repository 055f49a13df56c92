package tensor

import (
	"math"
	"slices"
	"testing"
)

// Known answers of Philox4x32-10 from the Random123 distribution (kat_vectors): counter and key
// all zeros, and all ones.
func TestPhiloxKnownAnswers(t *testing.T) {
	for _, c := range []struct {
		key  uint64
		ctr  [4]uint32
		want [4]uint32
	}{
		{0, [4]uint32{}, [4]uint32{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
		{math.MaxUint64, [4]uint32{^uint32(0), ^uint32(0), ^uint32(0), ^uint32(0)}, [4]uint32{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
	} {
		a, b, cc, d := Philox(c.key, c.ctr[0], c.ctr[1], c.ctr[2], c.ctr[3])
		if got := [4]uint32{a, b, cc, d}; got != c.want {
			t.Errorf("Philox(%#x, %x) = %x, want %x", c.key, c.ctr, got, c.want)
		}
	}
}

// TestPhiloxNormalStream checks the layout of the normal stream: position p is lane p mod 4 of
// block p/4, the block is one Philox call on the normal domain, and each lane pair is a
// Box–Muller pair of its two uniforms.
func TestPhiloxNormalStream(t *testing.T) {
	const seed = 0x0123456789abcdef
	for _, block := range []uint64{0, 1, 7, 1<<30 - 1, 1 << 30, 1<<40 + 5} {
		z := PhiloxNormal4(seed, block)
		for j := uint64(0); j < 4; j++ {
			if got := PhiloxNormal(seed, 4*block+j); got != z[j] {
				t.Errorf("PhiloxNormal(%d) = %v, want lane %d of block %d: %v", 4*block+j, got, j, block, z[j])
			}
		}
		r0, r1, r2, r3 := Philox(seed, uint32(block), uint32(block>>32), PhiloxNormalDomain, 0)
		for h, pair := range [2][2]uint32{{r0, r1}, {r2, r3}} {
			za, zb := float64(z[2*h]), float64(z[2*h+1])
			r2want := -2 * math.Log(float64(Uint32ToUniform(pair[0])))
			if got := za*za + zb*zb; math.Abs(got-r2want) > 1e-6*(1+r2want) {
				t.Errorf("block %d pair %d: z_a²+z_b² = %v, want −2 ln u_a = %v", block, h, got, r2want)
			}
			theta := math.Atan2(zb, za)
			if theta < 0 {
				theta += 2 * math.Pi
			}
			u := float64(Uint32ToUniform(pair[1]))
			if d := math.Abs(theta - 2*math.Pi*u); d > 1e-5 && math.Abs(d-2*math.Pi) > 1e-5 {
				t.Errorf("block %d pair %d: angle %v, want 2π·u_b = %v", block, h, theta, 2*math.Pi*u)
			}
		}
	}
}

// TestCPURandNormalOffsets checks the CPU backend's blocked fill at offsets that start and end
// inside a block, against the element definition.
func TestCPURandNormalOffsets(t *testing.T) {
	b := CPU()
	for _, off := range []uint64{0, 1, 2, 3, 5, 1<<32 - 2} {
		for _, n := range []int{1, 3, 4, 9, 4099} {
			s := b.Alloc(n, Float32)
			b.RandNormal(s, 42, off)
			got := cpuData(s)
			for i := range got {
				if want := PhiloxNormal(42, off+uint64(i)); got[i] != want {
					t.Fatalf("offset %d n %d: [%d] = %v, want %v", off, n, i, got[i], want)
				}
			}
		}
	}
}

// Perm is a permutation of 0…n−1 that consumes n−1 draws of the stream, and different seeds give
// different orders.
func TestRNGPerm(t *testing.T) {
	for _, n := range []int{0, 1, 2, 7, 100} {
		r := NewRNG(3)
		p := r.Perm(n)
		seen := make([]bool, n)
		for _, v := range p {
			if v < 0 || v >= n || seen[v] {
				t.Fatalf("Perm(%d) = %v is not a permutation", n, p)
			}
			seen[v] = true
		}
		if len(p) != n || r.Offset != uint64(max(n-1, 0)) {
			t.Fatalf("Perm(%d): %d values, %d draws", n, len(p), r.Offset)
		}
	}
	a, b := NewRNG(1).Perm(100), NewRNG(2).Perm(100)
	if slices.Equal(a, b) {
		t.Fatal("seeds 1 and 2 give the same permutation")
	}
}
