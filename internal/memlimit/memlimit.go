// Package memlimit reads how much memory this process may still use (the kernel's MemAvailable,
// or the room below a cgroup limit) and gives the Go runtime a soft memory limit from it.
//
// Tensors of the CPU backend live on the Go heap. By default the collector lets the heap grow
// to twice what is live before it runs, so a process holding 9 GiB of model weights may reach
// 18 GiB before it collects the garbage of loading them, and be killed by the kernel on a
// 24 GiB machine. A soft limit (runtime/debug.SetMemoryLimit) makes the collector work harder
// as the heap approaches it instead.
//
// Under that limit the collector may also run less often: sampling allocates a fresh tensor for
// every operation of every step and keeps little alive, so at the default GOGC=100 the process
// spends much of its time collecting and zeroing reused memory. Apply raises GOGC to GCPercent
// (docs/measurements.md §8: sampling 1.4× and fine-tuning 1.2× faster on the development machine),
// and PaceCPU, for the CPU backend, gives the heap a floor below which it is not collected.
package memlimit

import (
	"bufio"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
)

// Available is what this process can still allocate, in bytes: the kernel's MemAvailable and,
// under a cgroup (v2 or v1) memory limit, the room left below it, whichever is less. ok is false
// where neither can be read.
func Available() (bytes float64, ok bool) {
	avail, ok := meminfoAvailable()
	if room, cg := cgroupRoom(); cg && (!ok || room < avail) {
		avail, ok = room, true
	}
	return avail, ok
}

// Fraction is the share of the memory available at start-up that Apply gives the heap.
const Fraction = 0.9

// GCPercent is the collector's GOGC that Apply sets under a memory limit: the heap may grow to
// five times what is live before a collection, and the limit still bounds it.
const GCPercent = 400

// Apply sets the Go runtime's soft memory limit to Fraction of Available, unless GOMEMLIMIT is
// set (the user's choice wins) or nothing can be read. It returns the limit set, or 0. Where a
// limit is in force (set here or by GOMEMLIMIT) and GOGC is not set, it also sets GOGC to
// GCPercent.
func Apply() int64 {
	var limit int64
	if os.Getenv("GOMEMLIMIT") == "" {
		avail, ok := Available()
		if !ok || avail <= 0 {
			return 0
		}
		limit = int64(avail * Fraction)
		debug.SetMemoryLimit(limit)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(GCPercent)
		if limit > 0 {
			applied.Store(limit) // both settings are ours: PaceCPU may change them
		}
	}
	return limit
}

// applied is the memory limit Apply set when it also set GOGC (0: it set neither or only one).
var applied atomic.Int64

// HeapFloor is the heap a CPU run may grow to before its first collection, and below which
// PaceCPU never sets the limit.
const HeapFloor = 512 << 20

// PaceCPU suits the collector to the CPU backend, where tensors live on the Go heap, and does
// nothing unless Apply set both GOGC and the memory limit (the user gave neither).
//
// A CPU run keeps little alive (a 2 M-parameter fine-tuning run, about 16 MB) and allocates a
// fresh tensor for every operation, so at GOGC 400 it collects every few tens of milliseconds,
// and between collections the runtime's background scavenger hands the freed pages back to the
// kernel, which the next tensors fault in again one 4 KiB page at a time (docs/measurements.md
// §10). PaceCPU turns GOGC off and lets the memory limit alone trigger collections: the limit
// is GCPercent's heap goal, (1 + GCPercent/100) times the live heap, but never below HeapFloor
// nor above Apply's limit, and it is set again after every collection. A small run then reuses
// the same half gigabyte without faulting it in again; a large one is paced as at GOGC 400.
//
// Not for the CUDA backend: its device buffers return to their pool when the collector finds
// them garbage, so collections must stay frequent there.
func PaceCPU() {
	ceiling := applied.Load()
	if ceiling <= 0 || !pacing.CompareAndSwap(false, true) {
		return
	}
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(pacedLimit(0, ceiling)) // the floor; repace only raises it
	repace(ceiling)
	afterEachGC(func() bool {
		if !pacing.Load() {
			return false
		}
		repace(ceiling)
		return true
	})
}

// pacing is whether PaceCPU's hook is armed; tests clear it to stop the hook.
var pacing atomic.Bool

// repace raises the limit to pacedLimit of the live heap the last collection found. It never
// lowers it: a run alternates phases that keep little alive (sampling) with phases that keep
// more (a training step's tape), and a limit that fell after each would make the scavenger hand
// back, and the next phase fault in again, the difference every time.
func repace(ceiling int64) {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(sample)
	var live uint64
	if sample[0].Value.Kind() == metrics.KindUint64 {
		live = sample[0].Value.Uint64()
	}
	if l := pacedLimit(live, ceiling); l > debug.SetMemoryLimit(-1) {
		debug.SetMemoryLimit(l)
	}
}

// pacedLimit is (1 + GCPercent/100)·live, raised to HeapFloor and capped at ceiling.
func pacedLimit(live uint64, ceiling int64) int64 {
	goal := float64(live) * (1 + GCPercent/100.0)
	return int64(min(max(goal, HeapFloor), float64(ceiling)))
}

// afterEachGC runs f on the finalizer goroutine after every collection until f returns false:
// each collection finds the previous sentinel unreachable and runs its finalizer, which arms a
// new one. (The sentinel holds a pointer, so it is not batched with other small objects, whose
// finalizers may never run.)
func afterEachGC(f func() bool) {
	type sentinel struct{ _ *int }
	runtime.SetFinalizer(&sentinel{}, func(*sentinel) {
		if f() {
			afterEachGC(f)
		}
	})
}

func meminfoAvailable() (float64, bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			return kb * 1024, err == nil
		}
	}
	return 0, false
}

func cgroupRoom() (float64, bool) {
	for _, p := range [][2]string{
		{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"},
		{"/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"},
	} {
		limit, ok1 := readNumber(p[0])
		used, ok2 := readNumber(p[1])
		if ok1 && ok2 && limit < 1<<60 { // "max" or the v1 "no limit" value
			return max(limit-used, 0), true
		}
	}
	return 0, false
}

func readNumber(path string) (float64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
	return v, err == nil
}
