// Package backendtest is the conformance suite of tensor.Backend: every backend (the CPU
// reference, the CUDA backend under its build tag) runs the same tests, each comparing one
// primitive with an independent float64 reference written plainly in this package, on awkward
// sizes (1, 3, 31, 33, 257, 1025 and non-multiples of common tile sizes).
//
// Usage, from a backend's own test file:
//
//	func TestConformance(t *testing.T) { backendtest.Run(t, tensor.CPU()) }
//
// A backend whose arithmetic is deliberately less precise than float32 (TF32 or bf16 GEMMs,
// fast-math transcendental functions) declares it with RunWith and looser Options.
//
// Every check follows one rule, |got − ref| ≤ atol + rtol·|ref|, and a failure names the
// primitive and size (subtest), the worst index and the first few mismatching pairs.
package backendtest
