package device

import (
	"strings"
	"testing"

	"github.com/flowtune/flowtune/cuda"
	"github.com/flowtune/flowtune/tensor"
)

func TestOpen(t *testing.T) {
	b, err := Open("cpu")
	if err != nil || b != tensor.CPU() {
		t.Fatalf("cpu: %v, %v", b, err)
	}
	if _, err := Open("tpu"); err == nil || !strings.Contains(err.Error(), Names) {
		t.Fatalf("tpu: error %v, want one listing %q", err, Names)
	}
	if !cuda.Enabled {
		if _, err := Open("cuda"); err == nil || !strings.Contains(err.Error(), "-tags cuda") {
			t.Fatalf("cuda without the build tag: error %v, want one naming -tags cuda", err)
		}
	}
}
