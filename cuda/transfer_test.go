//go:build cuda

package cuda

import (
	"math/rand/v2"
	"testing"

	"github.com/flowtune/flowtune/tensor"
)

// TestStagedUploads queues uploads into one storage, each followed by a copy out of it, with
// no wait in between and more bytes than the staging buffer holds: every copy must see the
// values uploaded just before it, and only the wrap may wait for the device.
func TestStagedUploads(t *testing.T) {
	b := need(t)
	const n = 1 << 16 // 256 KiB per upload, 24 of them: the 4 MiB staging buffer wraps once
	r := rand.New(rand.NewPCG(1, 2))
	src := b.Alloc(n, tensor.Float32)
	var want [][]float32
	var outs []tensor.Storage
	c0 := b.Counts()
	for i := 0; i < 24; i++ {
		v := randn(r, n)
		b.Upload(src, v)
		out := b.Alloc(n, tensor.Float32)
		b.Copy(out, 0, src, 0, n)
		want, outs = append(want, v), append(outs, out)
	}
	c := b.Counts().sub(c0)
	for i := range outs {
		closeTo(t, "copy after upload", get(b, outs[i]), want[i], 0)
	}
	if c.Uploads != 24 || c.Syncs != 1 {
		t.Errorf("24 staged uploads: %d uploads, %d syncs; want 24 and 1 (the wrap of the staging buffer)", c.Uploads, c.Syncs)
	}
}

// TestSumSquaresMany checks the one-download sum against SumSquares one storage at a time (the
// same float64 additions in the same order, so equal to the bit), empty storages included.
func TestSumSquaresMany(t *testing.T) {
	b := need(t)
	r := rand.New(rand.NewPCG(3, 4))
	var xs []tensor.Storage
	var want float64
	for _, n := range []int{5, 0, 3000, 40000, 77} {
		x := put(b, randn(r, n), tensor.Float32)
		xs = append(xs, x)
		want += b.SumSquares(x)
	}
	c0 := b.Counts()
	got := b.SumSquaresMany(xs)
	if c := b.Counts().sub(c0); got != want || c.Syncs != 1 {
		t.Errorf("SumSquaresMany = %v with %d syncs, want %v (Σ SumSquares) with 1", got, c.Syncs, want)
	}
}

// TestSlabCarving: small storages come from one slab (one cuMemAlloc for many), do not overlap,
// and stay pooled when the pool is drained.
func TestSlabCarving(t *testing.T) {
	b := need(t)
	old := b.slabs
	b.slabs = true
	defer func() { b.slabs = old }()
	const n, count = 300, 40 // 1200 bytes: the 1536-byte bucket, 1365 blocks per slab
	// Blocks of earlier tests in the bucket would serve these without carving.
	func() {
		defer b.exit(b.enter("test"))
		b.drainPool()
	}()
	c0 := b.Counts()
	var ss []tensor.Storage
	for i := 0; i < count; i++ {
		v := make([]float32, n)
		for j := range v {
			v[j] = float32(i*n + j)
		}
		ss = append(ss, put(b, v, tensor.Float32))
	}
	if c := b.Counts().sub(c0); c.Allocs > 1 {
		t.Errorf("%d small storages took %d cuMemAlloc calls, want at most 1 (one slab)", count, c.Allocs)
	}
	for i, s := range ss {
		got := get(b, s)
		for j, v := range got {
			if v != float32(i*n+j) {
				t.Fatalf("storage %d element %d = %v, want %v: carved blocks overlap", i, j, v, i*n+j)
			}
		}
	}
	for _, s := range ss {
		b.Free(s)
	}
	func() {
		defer b.exit(b.enter("test"))
		b.drainPool()
		if len(b.pool[poolSize(4*n)]) < count {
			t.Errorf("drainPool freed carved blocks: %d left in the bucket, want ≥ %d", len(b.pool[poolSize(4*n)]), count)
		}
	}()
}
