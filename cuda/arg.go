//go:build cuda

package cuda

import "math"

// Kernel arguments. cu.LaunchKernel copies 8 bytes from behind every argument pointer, so each
// scalar travels in its own 8-byte slot, low bytes first (the kernel reads 4 of them for int
// and float parameters, all 8 for pointers, doubles and 64-bit integers).

func ptr(s *buffer) uint64 { return uint64(s.ptr) }

// ptrAt is the device address of element off of s.
func ptrAt(s *buffer, off int) uint64 { return uint64(s.ptr) + uint64(off)*uint64(s.dt.Size()) }

func i32(v int) uint64     { return uint64(uint32(int32(v))) }
func f32(v float32) uint64 { return uint64(math.Float32bits(v)) }
func f64(v float64) uint64 { return math.Float64bits(v) }
