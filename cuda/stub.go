//go:build !cuda

package cuda

import (
	"errors"
	"io"

	"github.com/flowtune/flowtune/tensor"
)

// Enabled reports whether this binary contains the CUDA backend.
const Enabled = false

// ErrNotBuilt is returned by New in a binary built without the cuda tag.
var ErrNotBuilt = errors.New("flowtune was built without CUDA support: rebuild with -tags cuda (see build.sh)")

// New reports that this binary has no CUDA backend.
func New() (tensor.Backend, error) { return nil, ErrNotBuilt }

// Range does nothing without CUDA support; it returns a no-op end function.
func Range(name string) (end func()) { return func() {} }

// ProfileSteps returns a profiler that does nothing without CUDA support.
func ProfileSteps(b tensor.Backend, from, to int) *StepProfiler {
	return &StepProfiler{from: from, to: to}
}

// Describe returns "" without CUDA support.
func Describe(b tensor.Backend) string { return "" }

// PhaseTable does nothing without CUDA support (see the cuda build).
type PhaseTable struct{}

// NewPhaseTable returns nil without CUDA support.
func NewPhaseTable(b any) *PhaseTable { return nil }

// Range does nothing.
func (t *PhaseTable) Range(name string) (end func()) { return func() {} }

// Write does nothing.
func (t *PhaseTable) Write(w io.Writer) {}
