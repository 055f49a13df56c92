//go:build !amd64 || purego

package tensor

// expfVector has no vector form here: expfSlice does every element in Go.
func expfVector(d, x []float32) int                          { return 0 }
func expfVectorLanes() int                                   { return 0 }
func geluArgVector(s, x []float32) int                       { return 0 }
func sigmoidTailVector(s []float32) int                      { return 0 }
func normRowVector(out, in, w []float32, mu, rs float64) int { return 0 }
