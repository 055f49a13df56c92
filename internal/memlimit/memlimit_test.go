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
