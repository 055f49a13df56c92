package gemm

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestPackersMatchGo: the machine-specific packers (AVX-512 gathers, transposes, masked moves)
// must produce exactly the panels of the plain Go loops, zero padding included, for both
// storage orders, ragged edges and depths that are not a multiple of 16.
func TestPackersMatchGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, kern := range kernels {
		if kern.gather == nil && kern.transpose == nil && kern.copy == nil {
			continue
		}
		mr, nr := kern.mr, kern.nr
		for _, rows := range []int{1, 13, 14, 15, 29, 33, 47} {
			for _, depth := range []int{1, 15, 16, 17, 40, 64} {
				for _, trans := range []bool{false, true} {
					// The operand holds rows×depth values plus a margin and a padded stride;
					// the window starts one row and one step in.
					sr, sc := rows+2, depth+2
					if trans {
						sr, sc = sc, sr
					}
					ld := sc + 3
					data := randMatrix(rng, sr, sc, ld, float32(math.NaN()))
					v := view{data: data, rs: ld, cs: 1}
					if trans {
						v = view{data: data, rs: 1, cs: ld}
					}
					// As A: rows×depth starting at (1, 1).
					size := roundUp(rows, mr) * depth
					want, got := fill(size+8, -3), fill(size+8, -3)
					packA(want[:size], v, 1, rows, 1, depth, mr, packers{})
					packA(got[:size], v, 1, rows, 1, depth, mr, kern.packers)
					diffPanels(t, "packA", kern.name, rows, depth, trans, got, want)

					// As B: depth×rows, i.e. the transpose of the same window.
					bv := view{data: data, rs: v.cs, cs: v.rs}
					panels := ceilDiv(rows, nr)
					size = panels * nr * depth
					want, got = fill(size+8, -3), fill(size+8, -3)
					packB(want[:size], bv, 1, depth, 1, rows, nr, 0, panels, packers{})
					packB(got[:size], bv, 1, depth, 1, rows, nr, 0, panels, kern.packers)
					diffPanels(t, "packB", kern.name, rows, depth, trans, got, want)
				}
			}
		}
	}
}

func fill(n int, v float32) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = v
	}
	return x
}

// diffPanels compares bit for bit, including the guard values past the panels (which must
// not have been written).
func diffPanels(t *testing.T, what, kern string, rows, depth int, trans bool, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s %s rows=%d depth=%d trans=%v: element %d = %g, want %g", what, kern, rows, depth, trans, i, got[i], want[i])
		}
	}
}
