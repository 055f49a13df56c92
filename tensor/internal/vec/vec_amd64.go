//go:build amd64 && !purego

package vec

import "golang.org/x/sys/cpu"

// applyAVX2 sets d[i] = a[i] op b[i] for i < n, eight at a time (vec_amd64.s); n is a
// multiple of 8.
//
//go:noescape
func applyAVX2(op Op, d, a, b *float32, n int)

// useAVX2 is whether this CPU and OS run AVX2 (x/sys/cpu checks both).
var useAVX2 = cpu.X86.HasAVX2

// vector runs op over the longest prefix of d whose length is a multiple of 8 and returns
// that length; the caller does the rest.
func vector(op Op, d, a, b []float32) int {
	n := len(d) &^ 7
	if !useAVX2 || n == 0 {
		return 0
	}
	applyAVX2(op, &d[0], &a[0], &b[0], n)
	return n
}
