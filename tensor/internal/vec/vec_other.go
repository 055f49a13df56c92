//go:build !amd64 || purego

package vec

import "math"

// No vector forms here: every element is done in Go.
func vector(op Op, d, a, b []float32) int               { return 0 }
func vectorScalar(op Op, d, a []float32, s float32) int { return 0 }
func vectorMax(x []float32) (float32, int)              { return float32(math.Inf(-1)), 0 }
func vectorAccumulate(acc []float64, x []float32) int   { return 0 }
func vectorAdamW(a *AdamW, p, g, m, v []float32) int    { return 0 }
