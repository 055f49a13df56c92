package memlimit

import (
	"runtime/debug"
	"testing"
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
