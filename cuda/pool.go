//go:build cuda

package cuda

import (
	"fmt"
	"math"
	"runtime"
	"time"

	"github.com/mumax/3/cuda/cu"

	"github.com/flowtune/flowtune/tensor"
)

// Device memory: the storage type and the size-bucketed pool behind it (see backend.go for
// how finalizers, Free and out-of-memory retries fit together).

// ---- storages -----------------------------------------------------------------------------

// buffer is the Storage of the CUDA backend: a device pointer, a length and a dtype.
type buffer struct {
	owner *Backend
	ptr   cu.DevicePtr
	n     int
	dt    tensor.DType
	bytes int64 // size of the pooled block behind ptr
}

func (s *buffer) Backend() tensor.Backend { return s.owner }
func (s *buffer) Len() int                { return s.n }
func (s *buffer) DType() tensor.DType     { return s.dt }

// poolSize rounds a request up to its pool bucket: 512-byte steps up to 1 MiB, then steps of a
// sixteenth of the enclosing power of two (at most ~6% slack).
func poolSize(bytes int64) int64 {
	if bytes <= 1<<20 {
		return max(512, (bytes+511)/512*512)
	}
	step := int64(1) << (63 - leadingZeros64(uint64(bytes)) - 4)
	return (bytes + step - 1) / step * step
}

func leadingZeros64(x uint64) int {
	n := 0
	for i := 63; i >= 0 && x&(1<<uint(i)) == 0; i-- {
		n++
	}
	return n
}

// recycle moves storages returned by finalizers into the pool (called with the lock held).
func (b *Backend) recycle() {
	b.pendMu.Lock()
	p := b.pending
	b.pending = nil
	b.pendMu.Unlock()
	for _, q := range p {
		b.pool[q.bytes] = append(b.pool[q.bytes], q.ptr)
	}
}

// drainPool frees every pooled block (before retrying an allocation that ran out of memory).
// Blocks carved from a slab stay: they cannot be returned one by one.
func (b *Backend) drainPool() {
	for k, ptrs := range b.pool {
		kept := ptrs[:0]
		for _, p := range ptrs {
			if _, ok := b.carved[p]; ok {
				kept = append(kept, p)
				continue
			}
			b.cnt.Frees++
			cu.MemFree(p)
		}
		if len(kept) == 0 {
			delete(b.pool, k)
		} else {
			b.pool[k] = kept
		}
	}
}

// Small storages are carved from slabs: a model of a few million parameters makes hundreds of
// small temporaries per forward pass, and until the garbage collector hands them back each one
// the pool cannot serve would be a cuMemAlloc of its own (tens of microseconds on a GPU). A miss
// in a bucket of at most slabMaxBlock bytes allocates one slab and puts all its blocks in the
// bucket. Carved blocks stay in the pool for the backend's lifetime (slack: at most one slab per
// bucket beyond the peak use). The emulator (cuda/emu) puts a guard page behind every
// allocation to catch reads past the end; carving would hide those, so it does not carve
// unless a test asks (Backend.slabs) or FLOWTUNE_CUDA_SLABS=1 (=0 turns carving off anywhere).
const (
	slabBytes    = 2 << 20
	slabMaxBlock = 64 << 10
)

// carve allocates a slab for blocks of the given size, queues all but the first in the pool and
// returns the first.
func (b *Backend) carve(bytes int64) cu.DevicePtr {
	base := b.memAlloc(slabBytes)
	if b.carved == nil {
		b.carved = map[cu.DevicePtr]struct{}{}
	}
	for off := int64(0); off+bytes <= slabBytes; off += bytes {
		p := base + cu.DevicePtr(off)
		b.carved[p] = struct{}{}
		if off > 0 {
			b.pool[bytes] = append(b.pool[bytes], p)
		}
	}
	return base
}

// alloc returns an uninitialised storage (lock held).
func (b *Backend) alloc(n int, dt tensor.DType) *buffer {
	if n < 0 || n > math.MaxInt32 {
		panic(fmt.Sprintf("cuda: Alloc(%d, %s): storages hold 0 to 2^31-1 elements", n, dt))
	}
	if dt != tensor.Float32 && dt != tensor.BFloat16 {
		panic(fmt.Sprintf("cuda: Alloc: unknown dtype %v", dt))
	}
	bytes := poolSize(int64(n) * int64(dt.Size()))
	var ptr cu.DevicePtr
	if free := b.pool[bytes]; len(free) > 0 {
		ptr = free[len(free)-1]
		b.pool[bytes] = free[:len(free)-1]
		b.cnt.PoolHits++
	} else if b.slabs && bytes <= slabMaxBlock {
		ptr = b.carve(bytes)
	} else {
		ptr = b.memAlloc(bytes)
	}
	s := &buffer{owner: b, ptr: ptr, n: n, dt: dt, bytes: bytes}
	runtime.SetFinalizer(s, func(s *buffer) {
		b.pendMu.Lock()
		b.pending = append(b.pending, pooled{s.ptr, s.bytes})
		b.pendMu.Unlock()
	})
	return s
}

// memAlloc allocates from the driver, emptying the pool and collecting garbage on the way when
// the device is full.
func (b *Backend) memAlloc(bytes int64) (ptr cu.DevicePtr) {
	try := func() (ok bool) {
		defer func() {
			if r := recover(); r != nil {
				if r != cu.ERROR_OUT_OF_MEMORY {
					panic(r)
				}
				ok = false
			}
		}()
		b.cnt.Allocs++
		ptr = cu.MemAlloc(bytes)
		return true
	}
	if try() {
		return ptr
	}
	b.drainPool()
	if try() {
		return ptr
	}
	for i := 0; i < 3; i++ {
		runtime.GC()
		time.Sleep(time.Duration(10<<i) * time.Millisecond) // let finalizers queue their storages
		b.recycle()
		b.drainPool()
		if try() {
			return ptr
		}
	}
	free, total := cu.MemGetInfo()
	panic(&Error{Cause: fmt.Sprintf("out of device memory allocating %d MiB (%d MiB free of %d MiB)",
		bytes>>20, free>>20, total>>20)})
}

// tmp allocates scratch for one method; release returns it to the pool right away (safe: later
// work on the stream runs after the work that used it).
func (b *Backend) tmp(n int, dt tensor.DType) *buffer { return b.alloc(n, dt) }

func (b *Backend) release(s *buffer) {
	runtime.SetFinalizer(s, nil)
	b.pool[s.bytes] = append(b.pool[s.bytes], s.ptr)
	s.ptr = 0
}

// Free returns a storage's memory to the pool now; s must not be used afterwards.
func (b *Backend) Free(s tensor.Storage) {
	defer b.exit(b.enter("free"))
	if buf := b.buf(s, "Free"); buf.ptr != 0 {
		b.release(buf)
	}
}
