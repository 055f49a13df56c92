//go:build !amd64 || purego

package vec

// vector has no vector form here: Apply does every element in Go.
func vector(op Op, d, a, b []float32) int { return 0 }
