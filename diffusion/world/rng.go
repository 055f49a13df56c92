package world

import "math/bits"

// RNG is all the randomness the world needs. Both *math/rand.Rand and the engine's
// *tensor.RNG satisfy it, so scenes are reproducible from whichever stream the caller owns.
// Float64 may return values in [0,1) or (0,1]; the world only compares it with probabilities,
// so either convention is fine.
type RNG interface {
	Float64() float64
	Intn(n int) int
}

// splitMix is the world's private generator (SplitMix64). It derives the held-out split and the
// prompt lists from Config.Seed alone, independent of the caller's RNG implementation.
type splitMix struct{ state uint64 }

func (s *splitMix) next() uint64 {
	s.state += 0x9E3779B97F4A7C15
	z := s.state
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// Float64 returns a uniform value in [0, 1).
func (s *splitMix) Float64() float64 { return float64(s.next()>>11) / (1 << 53) }

// Intn returns a uniform integer in [0, n) by the multiply-high method.
func (s *splitMix) Intn(n int) int {
	if n <= 0 {
		panic("world: Intn with n <= 0")
	}
	hi, _ := bits.Mul64(s.next(), uint64(n))
	return int(hi)
}

// intRange draws an integer in [lo, hi] inclusive.
func intRange(rng RNG, lo, hi int) int {
	if hi <= lo {
		return lo
	}
	return lo + rng.Intn(hi-lo+1)
}

// chance reports true with probability p.
func chance(rng RNG, p float64) bool { return p >= 1 || (p > 0 && rng.Float64() < p) }

// hash64 mixes a seed and a string into 64 bits (FNV-1a followed by a SplitMix finaliser); the
// held-out text split is a pure function of it.
func hash64(seed uint64, s string) uint64 {
	h := uint64(14695981039346656037) ^ seed
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	m := splitMix{state: h}
	return m.next()
}
