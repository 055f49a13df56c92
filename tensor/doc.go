// Package tensor is flowtune's array and autograd core: dense float32 tensors on a pluggable
// Backend, differentiable ops recorded on a tape for reverse-mode gradients, and the CPU backend
// that is every other backend's reference.
//
// The layers, from the bottom:
//
//   - Backend (backend.go): the small contract a device provides — memory, elementwise maps,
//     reductions, GEMM, norms, attention, embedding rows, AdamW and counter-based random numbers
//     (philox.go). Fused kernels for one domain are optional extensions with a composed
//     fallback: FusedDiffusion (fused.go) for the Euler–Maruyama sampler step and per-sample
//     squared errors.
//   - The CPU backend (cpu*.go): plain Go over []float32, parallel over goroutines, with
//     results that do not depend on the number of cores. Package tensor/backendtest is the
//     conformance suite every backend passes.
//   - Tensor and its ops (tensor.go, ops*.go): shape checks in Go, forward passes through the
//     backend's primitives, backward passes written with the same ops; NoGrad switches the tape
//     off.
//
// Package cuda implements Backend (and FusedDiffusion) on NVIDIA GPUs under the cuda build tag.
package tensor
