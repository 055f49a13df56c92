package diffusion

// Noise schedules in host float64 math (docs/algorithms.md §1.2, §1.3, §1.6, §2.1): the SD3 timestep shift,
// the exact inference σ grid diffusers builds, the model's time input, and the Flow-GRPO /
// memoryless diffusion coefficients.

import (
	"fmt"
	"math"
)

// SD3Shift is the timestep shift of Stable Diffusion 3 / 3.5 (no dynamic shifting).
const SD3Shift = 3.0

// NumTrainTimesteps is the length of the discrete training schedule diffusers keeps; the
// model's time input is σ·NumTrainTimesteps.
const NumTrainTimesteps = 1000

// Shift maps an unshifted level s ∈ [0,1] to σ = S·s / (1 + (S−1)·s). S > 1 spends more of
// the schedule at high noise; S = 1 is the identity.
func Shift(s, S float64) float64 { return S * s / (1 + (S-1)*s) }

// Unshift inverts Shift: s = σ / (S − (S−1)·σ).
func Unshift(sigma, S float64) float64 { return sigma / (S - (S-1)*sigma) }

// Timestep is the model's time input for noise level σ (SD3 takes 1000·σ as a float).
func Timestep(sigma float64) float64 { return NumTrainTimesteps * sigma }

// SigmaGrid returns the n+1 noise levels σ_0 = 1 > … > σ_{n−1} > σ_n = 0 of an n-step sampler,
// built exactly as diffusers' FlowMatchEulerDiscreteScheduler does:
//
//  1. the training schedule's end points are already shifted: σ_max = Shift(1) = 1 and
//     σ_min = Shift(1/1000);
//  2. s_i = linspace(σ_max, σ_min, n) (NumPy's linspace: start + i·step, the last point exact);
//  3. σ_i = Shift(s_i) — so the low end is shifted twice — and σ_n = 0 is appended.
//
// diffusers does parts of this in float32; this float64 version agrees to about 1e-7.
func SigmaGrid(n int, shift float64) []float64 {
	if n < 1 {
		panic(fmt.Sprintf("diffusion.SigmaGrid: need at least one step, got %d", n))
	}
	sigmaMax := Shift(1, shift)
	sigmaMin := Shift(1.0/NumTrainTimesteps, shift)
	grid := make([]float64, n+1)
	if n == 1 {
		grid[0] = Shift(sigmaMax, shift)
		return grid
	}
	step := (sigmaMin - sigmaMax) / float64(n-1)
	for i := 0; i < n; i++ {
		s := sigmaMax + float64(i)*step
		if i == n-1 {
			s = sigmaMin
		}
		grid[i] = Shift(s, shift)
	}
	grid[n] = 0
	return grid
}

// FlowSDEScale is the Flow-GRPO noise scale of step i of grid with noise level a (docs/algorithms.md §2.1):
// s_t = a·√(σ / (1 − σ̃)) with σ = grid[i], where σ̃ = σ except at σ = 1, where the next grid
// value is used instead to keep the scale finite. The step's std is s_t·√(σ_i − σ_{i+1}).
func FlowSDEScale(grid []float64, i int, a float64) float64 {
	if i < 0 || i >= len(grid) {
		panic(fmt.Sprintf("diffusion.FlowSDEScale: step %d outside a grid of %d levels", i, len(grid)))
	}
	sigma := grid[i]
	tilde := sigma
	if sigma == 1 {
		if len(grid) < 2 {
			panic("diffusion.FlowSDEScale: σ = 1 needs the next grid level")
		}
		tilde = grid[1]
	}
	return a * math.Sqrt(sigma/(1-tilde))
}

// FlowSDEG2 is the squared diffusion coefficient g(t)² = a²·t/(1−t) of the Flow-GRPO SDE
// family (docs/algorithms.md §1.6), continuous in t.
func FlowSDEG2(t, a float64) float64 { return a * a * t / (1 - t) }

// MemorylessG2 is g(t)² = 2t/(1−t), the memoryless schedule of Adjoint Matching / RAM (the
// Flow-GRPO family at a = √2): the final sample is independent of the starting noise.
func MemorylessG2(t float64) float64 { return 2 * t / (1 - t) }
