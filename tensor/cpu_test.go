package tensor_test

import (
	"testing"

	"github.com/flowtune/flowtune/tensor"
	"github.com/flowtune/flowtune/tensor/backendtest"
)

// TestCPUConformance runs the backend conformance suite on the CPU reference backend.
func TestCPUConformance(t *testing.T) {
	backendtest.Run(t, tensor.CPU())
}
