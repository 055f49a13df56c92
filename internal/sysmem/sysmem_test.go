package sysmem

import (
	"runtime"
	"testing"
)

// On Linux the available memory is read (from /proc/meminfo at least) and is a positive number
// of bytes, below 1 PiB.
func TestAvailable(t *testing.T) {
	v, ok := Available()
	if runtime.GOOS != "linux" {
		t.Skipf("Available on %s: %v, %v", runtime.GOOS, v, ok)
	}
	if !ok || !(v > 0) || v > 1<<50 {
		t.Fatalf("Available() = %v, %v; want a positive byte count", v, ok)
	}
}
