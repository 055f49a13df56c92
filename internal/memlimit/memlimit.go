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
// (docs/measurements.md §8: sampling 1.4× and fine-tuning 1.2× faster on the development machine).
package memlimit

import (
	"bufio"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
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
	}
	return limit
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
