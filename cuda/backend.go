//go:build cuda

package cuda

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/mumax/3/cuda/cu"

	"github.com/flowtune/flowtune/tensor"
)

// The CUDA backend: tensor.Backend over device memory, every primitive a launch of a kernel
// from kernels.cu (embedded as machine code for sm_80 and sm_90 and as PTX for later cards,
// which the driver JIT-compiles when the backend opens; see image.go).
//
// Threads and contexts. The backend uses the device's primary context and makes it current on
// the calling OS thread at the start of every method, with the goroutine locked to that thread
// until the method returns; a mutex serialises methods. Compared with a dedicated goroutine fed
// through a command channel, this costs no goroutine hand-off per launch (a launch is a few
// microseconds, a channel round trip a sizeable fraction of that), keeps driver panics on the
// caller's goroutine where they are recovered and re-raised with the op's name, and the
// primary context is the one CUDA tools (nsys, compute-sanitizer) and any runtime-API library
// share. All work goes to the legacy default stream, so launches run in issue order and
// Download (a synchronous copy) sees every earlier result.
//
// Memory. Storages come from a size-bucketed pool. A storage the program drops is returned by
// a finalizer (queued, then recycled by the next method call, in stream order, so no kernel
// still in flight can see its memory reused out of order). Free releases one at once. When the
// device runs out, the pool is emptied, the Go garbage collector is run to surface unreachable
// storages, and the allocation is retried before giving up with a clear message.

// Precision selects how MatMul multiplies Float32 storages. BFloat16 storages always take the
// bf16 tensor-core path.
type Precision int

const (
	FP32 Precision = iota // exact fp32 products on the SIMT cores (default)
	TF32                  // tensor cores, tf32 inputs (10-bit mantissa), fp32 accumulation
	BF16                  // operands rounded to bf16 on the device, tensor cores, fp32 accumulation
)

func (p Precision) String() string {
	return [...]string{"fp32", "tf32", "bf16"}[p]
}

// Options configure Open. The zero value is device 0, exact fp32 matmuls and attention.
type Options struct {
	Device int
	MatMul Precision
	// Attention selects attention's precision: FP32 (SIMT, the default) or BF16 (q, k, v and
	// the output gradient rounded to bf16 on the device, products on the tensor cores, softmax,
	// outputs and gradients in fp32) for head dimensions 64 and 128; other head dimensions stay
	// fp32 (attention.go). BFloat16 q, k, v storages always take the tensor cores.
	Attention Precision
	SyncDebug bool // synchronise and check for errors after every launch, naming the kernel
	// Poison fills the storages of AllocUninit with NaN bytes (a debugging aid: an op that
	// reads an output it was meant to overwrite then returns NaNs).
	Poison bool
	// Legacy turns off the launch-overhead savings (for before/after timings): outputs of
	// tensor.Empty are zero-filled, uploads are synchronous copies, SumSquaresMany adds up one
	// synchronising SumSquares per storage, small storages are not carved from slabs (pool.go),
	// and the backend does not say it is launch-bound
	// (so rollouts do not freeze their adapter).
	Legacy bool
}

// OptionsFromEnv reads FLOWTUNE_CUDA_DEVICE (ordinal), FLOWTUNE_CUDA_MATMUL (fp32|tf32|bf16),
// FLOWTUNE_CUDA_ATTENTION (fp32|bf16), FLOWTUNE_CUDA_SYNC=1, FLOWTUNE_CUDA_POISON=1 and FLOWTUNE_CUDA_LEGACY=1.
func OptionsFromEnv() (Options, error) {
	var o Options
	if v := os.Getenv("FLOWTUNE_CUDA_DEVICE"); v != "" {
		d, err := strconv.Atoi(v)
		if err != nil || d < 0 {
			return o, fmt.Errorf("FLOWTUNE_CUDA_DEVICE=%q: want a device ordinal (0, 1, ...)", v)
		}
		o.Device = d
	}
	switch v := os.Getenv("FLOWTUNE_CUDA_MATMUL"); v {
	case "", "fp32":
	case "tf32":
		o.MatMul = TF32
	case "bf16":
		o.MatMul = BF16
	default:
		return o, fmt.Errorf("FLOWTUNE_CUDA_MATMUL=%q: want fp32, tf32 or bf16", v)
	}
	switch v := os.Getenv("FLOWTUNE_CUDA_ATTENTION"); v {
	case "", "fp32":
	case "bf16":
		o.Attention = BF16
	default:
		return o, fmt.Errorf("FLOWTUNE_CUDA_ATTENTION=%q: want fp32 or bf16", v)
	}
	o.SyncDebug = os.Getenv("FLOWTUNE_CUDA_SYNC") == "1"
	o.Poison = os.Getenv("FLOWTUNE_CUDA_POISON") == "1"
	o.Legacy = os.Getenv("FLOWTUNE_CUDA_LEGACY") == "1"
	return o, nil
}

// New opens the CUDA backend configured from the environment (OptionsFromEnv). With
// FLOWTUNE_CUDA_VALIDATE=1 it returns a validating wrapper that runs every primitive on the
// CPU backend too and panics at the first divergence (see validate.go).
func New() (tensor.Backend, error) {
	opt, err := OptionsFromEnv()
	if err != nil {
		return nil, err
	}
	b, err := Open(opt)
	if err != nil {
		return nil, err
	}
	if os.Getenv("FLOWTUNE_CUDA_VALIDATE") == "1" {
		return NewValidating(b, tensor.CPU()), nil
	}
	return b, nil
}

// DeviceInfo describes the opened GPU.
type DeviceInfo struct {
	Name                   string
	Major, Minor           int // compute capability
	SMs                    int
	ClockKHz, MemClockKHz  int
	BusWidthBits           int
	TotalMem               int64
	Image                  Image         // the compiled form of the kernels that was loaded
	ImageNote              string        // why a cubin gave way to the PTX, if it did
	Load                   time.Duration // time the driver took to load it (JIT included for PTX)
	MaxSharedPerBlockOptin int
}

// PeakGBs is the DRAM bandwidth from the memory clock and bus width (double data rate).
func (d DeviceInfo) PeakGBs() float64 {
	return 2 * float64(d.MemClockKHz) * 1e3 * float64(d.BusWidthBits) / 8 / 1e9
}

// PeakTFLOPs is the dense peak of the given precision at the boost clock: fp32 on the SIMT
// cores, tf32 and bf16 on the tensor cores (per SM and clock: 256 fp32 flops on sm_80/sm_90;
// bf16 2048 on sm_80 and 4096 on sm_90; tf32 half of bf16).
func (d DeviceInfo) PeakTFLOPs(p Precision) float64 {
	perSM := 256.0
	if p != FP32 {
		perSM = 2048
		if d.Major >= 9 {
			perSM = 4096
		}
		if p == TF32 {
			perSM /= 2
		}
	}
	return perSM * float64(d.SMs) * float64(d.ClockKHz) * 1e3 / 1e12
}

func (d DeviceInfo) String() string {
	s := fmt.Sprintf("%s (sm_%d%d, %d SMs, %.0f MHz, %.1f GiB, %.0f GB/s peak; kernels: %s, loaded in %v)", d.Name, d.Major, d.Minor,
		d.SMs, float64(d.ClockKHz)/1e3, float64(d.TotalMem)/(1<<30), d.PeakGBs(), d.Image, d.Load.Round(time.Microsecond))
	if d.ImageNote != "" {
		s += "; " + d.ImageNote
	}
	return s
}

// Backend is the CUDA implementation of tensor.Backend.
type Backend struct {
	mu        sync.Mutex
	dev       cu.Device
	ctx       cu.Context
	fn        map[string]cu.Function
	smemSet   map[string]int // dynamic shared memory limit raised so far, per kernel
	info      DeviceInfo
	opt       Options
	pool      map[int64][]cu.DevicePtr
	pendMu    sync.Mutex
	pending   []pooled // storages dropped by the program, returned by finalizers
	sumsqPart cu.DevicePtr
	cnt       Counts                    // driver work so far (counts.go)
	perKernel map[string]int64          // launches so far per kernel
	slabs     bool                      // carve small storages from slabs (pool.go)
	carved    map[cu.DevicePtr]struct{} // blocks carved from slabs
	staging   unsafe.Pointer            // pinned host buffer of the uploads (transfer.go)
	stagedOff int64                     // its bytes in use by copies that may still be queued
}

type pooled struct {
	ptr   cu.DevicePtr
	bytes int64
}

// Open opens device opt.Device. It returns an error (never panics) when the driver or device is
// missing or too old.
func Open(opt Options) (b *Backend, err error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, fmt.Errorf("cuda: cannot open device %d: %v", opt.Device, r)
		}
	}()
	cu.Init(0)
	if n := cu.DeviceGetCount(); n == 0 {
		return nil, fmt.Errorf("cuda: no CUDA device found")
	} else if opt.Device >= n {
		return nil, fmt.Errorf("cuda: device %d requested, %d present", opt.Device, n)
	}
	dev := cu.DeviceGet(opt.Device)
	major, minor := cu.DeviceComputeCapability(dev)
	if major < 8 {
		return nil, fmt.Errorf("cuda: %s has compute capability %d.%d; flowtune's kernels need 8.0 or newer (A100, H100, ...)",
			cu.DeviceGetName(dev), major, minor)
	}
	b = &Backend{
		dev: dev, opt: opt, fn: map[string]cu.Function{}, smemSet: map[string]int{},
		pool: map[int64][]cu.DevicePtr{}, perKernel: map[string]int64{},
	}
	b.ctx = primaryContext(dev)
	cu.CtxSetCurrent(b.ctx)
	mod, img, took, note, err := loadKernels(major, minor)
	if err != nil {
		return nil, fmt.Errorf("cuda: %w", err)
	}
	for _, name := range kernelNames() {
		b.fn[name] = mod.GetFunction(name)
	}
	b.info = DeviceInfo{
		Name: cu.DeviceGetName(dev), Major: major, Minor: minor,
		SMs:                    dev.Attribute(cu.MULTIPROCESSOR_COUNT),
		ClockKHz:               dev.Attribute(cu.CLOCK_RATE),
		MemClockKHz:            dev.Attribute(cu.MEMORY_CLOCK_RATE),
		BusWidthBits:           dev.Attribute(cu.GLOBAL_MEMORY_BUS_WIDTH),
		TotalMem:               cu.DeviceTotalMem(dev),
		Image:                  img,
		ImageNote:              note,
		Load:                   took,
		MaxSharedPerBlockOptin: maxSharedOptin(dev),
	}
	b.sumsqPart = cu.MemAlloc(sumsqBlocks * 8)
	b.slabs = !opt.Legacy && !strings.Contains(b.info.Name, "cuda/emu")
	if v := os.Getenv("FLOWTUNE_CUDA_SLABS"); v == "0" || v == "1" { // override, for counting under the emulator
		b.slabs = v == "1"
	}
	return b, nil
}

// Name implements tensor.Backend.
func (b *Backend) Name() string { return "cuda" }

// Info describes the device.
func (b *Backend) Info() DeviceInfo { return b.info }

// Options returns the options the backend was opened with.
func (b *Backend) Options() Options { return b.opt }

// SetMatMul switches how MatMul multiplies Float32 storages from now on.
func (b *Backend) SetMatMul(p Precision) {
	b.mu.Lock()
	b.opt.MatMul = p
	b.mu.Unlock()
}

// SetAttention switches the attention forward's precision from now on (FP32 or BF16).
func (b *Backend) SetAttention(p Precision) {
	if p != FP32 && p != BF16 {
		panic(fmt.Sprintf("cuda: SetAttention(%s): attention runs in fp32 or bf16", p))
	}
	b.mu.Lock()
	b.opt.Attention = p
	b.mu.Unlock()
}

// Error is the panic value of a failed primitive: the op, the kernel when one was being
// launched, and the driver's verdict.
type Error struct {
	Op, Kernel string
	Cause      any
}

func (e *Error) Error() string {
	if e.Kernel != "" {
		return fmt.Sprintf("cuda: %s (kernel %s): %v", e.Op, e.Kernel, e.Cause)
	}
	return fmt.Sprintf("cuda: %s: %v", e.Op, e.Cause)
}

// enter begins a method: it takes the lock, pins the goroutine to its thread, makes the
// context current there, recycles storages queued by finalizers and opens an NVTX range. It
// returns op for the deferred exit: `defer b.exit(b.enter("op"))`.
func (b *Backend) enter(op string) string {
	b.mu.Lock()
	runtime.LockOSThread()
	if nvtxOn {
		nvtxPush(op)
	}
	cu.CtxSetCurrent(b.ctx)
	b.recycle()
	return op
}

// exit ends a method; a panic inside it (a cu.Result from the driver, or an *Error from a
// launch) is re-raised as an *Error naming the op.
func (b *Backend) exit(op string) {
	r := recover()
	if nvtxOn {
		nvtxPop()
	}
	runtime.UnlockOSThread()
	b.mu.Unlock()
	if r != nil {
		if e, ok := r.(*Error); ok {
			if e.Op == "" {
				e.Op = op
			}
			panic(e)
		}
		if _, ok := r.(cu.Result); ok {
			panic(&Error{Op: op, Cause: r})
		}
		panic(r) // programmer misuse: the message already names the op
	}
}

// Synchronize waits for all queued work (and surfaces an asynchronous error, if any).
func (b *Backend) Synchronize() {
	defer b.exit(b.enter("synchronize"))
	b.cnt.Syncs++
	cu.CtxSynchronize()
	b.stagedOff = 0
}

// Time runs f reps times between two CUDA events and returns the mean milliseconds per run.
// f may call any method of the backend.
func (b *Backend) Time(reps int, f func()) float64 {
	var start, stop event
	func() {
		defer b.exit(b.enter("time"))
		start, stop = newEvent(), newEvent()
		start.record()
	}()
	for i := 0; i < reps; i++ {
		f()
	}
	defer b.exit(b.enter("time"))
	stop.record()
	b.cnt.Syncs++
	stop.sync()
	ms := elapsedMs(start, stop)
	start.destroy()
	stop.destroy()
	return ms / float64(reps)
}

// dim3 is a grid or block shape.
type dim3 struct{ x, y, z int }

func grid1(n, block int) dim3 { return dim3{max(1, (n+block-1)/block), 1, 1} }

// launch runs kernel name with the given arguments, each already widened to its own 8-byte
// slot (see arg.go): cu.LaunchKernel reads 8 bytes behind every argument pointer.
func (b *Backend) launch(name string, grid, block dim3, smem int, args ...uint64) {
	f, ok := b.fn[name]
	if !ok {
		panic(&Error{Kernel: name, Cause: "no such kernel in the embedded PTX (run ./build.sh)"})
	}
	if smem > 48<<10 && b.smemSet[name] < smem {
		if smem > b.info.MaxSharedPerBlockOptin {
			panic(&Error{Kernel: name, Cause: fmt.Sprintf("needs %d bytes of shared memory, the device allows %d", smem, b.info.MaxSharedPerBlockOptin)})
		}
		setMaxDynamicShared(f, smem)
		b.smemSet[name] = smem
	}
	ptrs := make([]unsafe.Pointer, len(args))
	for i := range args {
		ptrs[i] = unsafe.Pointer(&args[i])
	}
	func() {
		defer func() {
			if r := recover(); r != nil {
				panic(&Error{Kernel: name, Cause: r})
			}
		}()
		b.cnt.Launches++
		b.perKernel[name]++
		cu.LaunchKernel(f, grid.x, grid.y, grid.z, block.x, block.y, block.z, smem, 0, ptrs)
		if b.opt.SyncDebug {
			cu.CtxSynchronize()
		}
	}()
}

// buf unwraps a storage of this backend (panics, naming op, on nil or a foreign storage).
func (b *Backend) buf(s tensor.Storage, op string) *buffer {
	bs, ok := s.(*buffer)
	if !ok || bs == nil {
		owner := "<nil>"
		if s != nil {
			owner = s.Backend().Name()
		}
		panic(fmt.Sprintf("cuda: %s: storage of backend %s handed to the CUDA backend", op, owner))
	}
	if bs.owner != b {
		panic(fmt.Sprintf("cuda: %s: storage of another CUDA backend instance", op))
	}
	if bs.ptr == 0 && bs.n > 0 {
		panic(fmt.Sprintf("cuda: %s: storage used after Free", op))
	}
	return bs
}

// f32 is buf for operands that must be Float32.
func (b *Backend) f32(s tensor.Storage, op string) *buffer {
	bs := b.buf(s, op)
	if bs.dt != tensor.Float32 {
		panic(fmt.Sprintf("cuda: %s: needs float32 storage, got %s", op, bs.dt))
	}
	return bs
}

// opt32 is f32 for optional operands: nil gives a null device pointer.
func (b *Backend) opt32(s tensor.Storage, op string) uint64 {
	if s == nil {
		return 0
	}
	return ptr(b.f32(s, op))
}
