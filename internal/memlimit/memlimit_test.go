package memlimit

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestApplySetsALimitBelowAvailable(t *testing.T) {
	avail, ok := Available()
	if !ok {
		t.Skip("no /proc/meminfo or cgroup memory files here")
	}
	old := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(old)
	t.Setenv("GOMEMLIMIT", "")
	got := Apply()
	if got <= 0 || float64(got) > avail {
		t.Fatalf("Apply set %d with %.0f bytes available", got, avail)
	}
	if cur := debug.SetMemoryLimit(-1); cur != got {
		t.Fatalf("runtime limit is %d, Apply returned %d", cur, got)
	}
}

func TestApplyLeavesGOMEMLIMITAlone(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "1GiB")
	if got := Apply(); got != 0 {
		t.Fatalf("Apply set %d although GOMEMLIMIT is given", got)
	}
}

// TestApplyRaisesGOGCUnlessGiven: under a limit, Apply sets GOGC to GCPercent, but never over
// the user's GOGC, and never without a limit.
func TestApplyRaisesGOGCUnlessGiven(t *testing.T) {
	if _, ok := Available(); !ok {
		t.Skip("no /proc/meminfo or cgroup memory files here")
	}
	oldLimit := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(oldLimit)
	oldGC := debug.SetGCPercent(100)
	defer debug.SetGCPercent(oldGC)

	t.Setenv("GOMEMLIMIT", "")
	t.Setenv("GOGC", "")
	Apply()
	if got := debug.SetGCPercent(100); got != GCPercent {
		t.Errorf("GOGC unset: Apply left the GC percent at %d, want %d", got, GCPercent)
	}
	t.Setenv("GOGC", "150")
	Apply()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC=150 given: Apply changed the GC percent to %d", got)
	}
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "1GiB")
	Apply()
	if got := debug.SetGCPercent(100); got != GCPercent {
		t.Errorf("GOMEMLIMIT given, GOGC unset: the GC percent is %d, want %d", got, GCPercent)
	}
}

func TestPacedLimit(t *testing.T) {
	const gib = 1 << 30
	for _, c := range []struct {
		live    uint64
		ceiling int64
		want    int64
	}{
		{16 << 20, 20 * gib, HeapFloor}, // a small run: the floor
		{1 * gib, 20 * gib, 5 * gib},    // GCPercent 400's goal
		{8 * gib, 20 * gib, 20 * gib},   // capped at Apply's limit
		{0, 256 << 20, 256 << 20},       // a machine below the floor: the ceiling
	} {
		if got := pacedLimit(c.live, c.ceiling); got != c.want {
			t.Errorf("pacedLimit(%d, %d) = %d, want %d", c.live, c.ceiling, got, c.want)
		}
	}
}

// PaceCPU turns GOGC off and keeps the limit at pacedLimit of the live heap, set again after
// each collection; without Apply's settings it leaves the collector alone.
func TestPaceCPU(t *testing.T) {
	oldLimit, oldGC := debug.SetMemoryLimit(-1), debug.SetGCPercent(-1)
	debug.SetGCPercent(oldGC)
	t.Cleanup(func() {
		pacing.Store(false)
		applied.Store(0)
		debug.SetMemoryLimit(oldLimit)
		debug.SetGCPercent(oldGC)
	})

	applied.Store(0)
	PaceCPU()
	if pacing.Load() || debug.SetMemoryLimit(-1) != oldLimit {
		t.Fatal("PaceCPU acted although Apply had not set GOGC and the limit")
	}

	const ceiling = 16 << 30
	applied.Store(ceiling)
	PaceCPU()
	if gc := debug.SetGCPercent(-1); gc != -1 {
		t.Errorf("GOGC is %d after PaceCPU, want off (-1)", gc)
	}
	if got := debug.SetMemoryLimit(-1); got < HeapFloor || got > ceiling {
		t.Errorf("limit %d after PaceCPU, want within [%d, %d]", got, HeapFloor, ceiling)
	}
	// 200 MB kept alive, then 400: after collections the limit follows, five times over (the
	// second step needs the hook to have armed itself again).
	var keep [][]byte
	for _, mb := range []int{200, 400} {
		for len(keep) < mb {
			keep = append(keep, make([]byte, 1<<20))
		}
		want := int64(5 * mb << 20)
		deadline := time.Now().Add(5 * time.Second)
		for {
			runtime.GC()
			time.Sleep(10 * time.Millisecond) // the hook runs on the finalizer goroutine
			got := debug.SetMemoryLimit(-1)
			if got >= want && got < want+want/5 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("limit %d with %d MB live, want about %d", got, mb, want)
			}
		}
	}
	runtime.KeepAlive(keep)
	// With the 400 MB gone the limit stays: lowering it would hand pages back to the kernel.
	keep = nil
	runtime.GC()
	time.Sleep(10 * time.Millisecond)
	runtime.GC()
	time.Sleep(10 * time.Millisecond)
	if got, want := debug.SetMemoryLimit(-1), int64(5*400<<20); got < want {
		t.Errorf("limit fell to %d when the live heap did, want it to stay at %d or more", got, want)
	}
}
