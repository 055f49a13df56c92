package tensor

import (
	"fmt"
	"testing"
)

// The plans handed to Backend.Binary, checked directly: a backend only ever sees these merged
// shapes and strides, so they are part of what a new backend has to handle.
func TestPlanBinaryMergesAxes(t *testing.T) {
	cases := []struct {
		out, a, b []int
		shape     [4]int
		sa, sb    Strides4
	}{
		// Same shape: one flat axis.
		{[]int{2, 3, 4}, []int{2, 3, 4}, []int{2, 3, 4}, [4]int{1, 1, 1, 24}, Strides4{0, 0, 0, 1}, Strides4{0, 0, 0, 1}},
		// Scalar: b has stride 0 everywhere.
		{[]int{2, 7, 1, 3}, []int{2, 7, 1, 3}, []int{}, [4]int{1, 1, 1, 42}, Strides4{0, 0, 0, 1}, Strides4{}},
		// Trailing bias over five axes: [B·…, C].
		{[]int{2, 3, 2, 2, 3}, []int{2, 3, 2, 2, 3}, []int{2, 3}, [4]int{1, 1, 12, 6}, Strides4{0, 0, 6, 1}, Strides4{0, 0, 0, 1}},
		// adaLN [B,1,C]: batch present in both, tokens only in a, channels in both.
		{[]int{2, 3, 5}, []int{2, 3, 5}, []int{2, 1, 5}, [4]int{1, 2, 3, 5}, Strides4{0, 15, 5, 1}, Strides4{0, 5, 0, 1}},
		// Outer product.
		{[]int{3, 4}, []int{3, 1}, []int{1, 4}, [4]int{1, 1, 3, 4}, Strides4{0, 0, 1, 0}, Strides4{0, 0, 0, 1}},
		// Size-1 output axes vanish and their neighbours merge.
		{[]int{2, 1, 3}, []int{2, 1, 3}, []int{1, 1, 3}, [4]int{1, 1, 2, 3}, Strides4{0, 0, 3, 1}, Strides4{0, 0, 0, 1}},
	}
	for _, c := range cases {
		p := planBinary("test", c.out, c.a, c.b)
		if p.shape != c.shape || p.sa != c.sa || p.sb != c.sb {
			t.Errorf("out %v a %v b %v: got shape %v sa %v sb %v, want %v %v %v",
				c.out, c.a, c.b, p.shape, p.sa, p.sb, c.shape, c.sa, c.sb)
		}
	}
}

// sumAxes issues one Backend.Sum per run of reduced axes (size-1 axes ignored), never one per
// axis; countingBackend records the views it was asked to sum.
func TestSumAxesOneCallPerRun(t *testing.T) {
	cases := []struct {
		shape  []int
		reduce []bool
		calls  string
	}{
		{[]int{2, 3, 4}, []bool{true, true, true}, "[[1 24 1]]"},
		{[]int{2, 3, 4, 5}, []bool{true, true, false, false}, "[[1 6 20]]"},
		{[]int{2, 3, 4, 5}, []bool{true, false, true, false}, "[[6 4 5] [1 2 15]]"},
		{[]int{2, 1, 3}, []bool{false, true, false}, "[]"}, // only a size-1 axis: no work
		{[]int{2, 1, 3}, []bool{true, false, true}, "[[1 6 1]]"},
	}
	for _, c := range cases {
		cb := &countingBackend{Backend: CPU()}
		x := cb.Alloc(numel(c.shape), Float32)
		sumAxes(x, c.shape, c.reduce)
		if got := fmt.Sprint(cb.sums); got != c.calls {
			t.Errorf("shape %v reduce %v: Sum calls %s, want %s", c.shape, c.reduce, got, c.calls)
		}
	}
}

// countingBackend wraps a backend and records the [outer, n, inner] of every Sum. Its storages
// name it as their backend, so code that asks a storage for its backend finds the wrapper.
type countingBackend struct {
	Backend
	sums [][3]int
}

type countingStorage struct {
	Storage
	owner *countingBackend
}

func (s countingStorage) Backend() Backend { return s.owner }

func (c *countingBackend) Alloc(n int, dt DType) Storage {
	return countingStorage{c.Backend.Alloc(n, dt), c}
}

func (c *countingBackend) Sum(dst, x Storage, outer, n, inner int) {
	c.sums = append(c.sums, [3]int{outer, n, inner})
	c.Backend.Sum(dst.(countingStorage).Storage, x.(countingStorage).Storage, outer, n, inner)
}
