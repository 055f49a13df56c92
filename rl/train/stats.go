package train

import "math"

// mean is the arithmetic mean (0 for no values).
func mean(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// meanStdOf is the mean and sample standard deviation (0 for fewer than two values).
func meanStdOf(v []float64) (float64, float64) {
	m := mean(v)
	if len(v) < 2 {
		return m, 0
	}
	ss := 0.0
	for _, x := range v {
		ss += (x - m) * (x - m)
	}
	return m, math.Sqrt(ss / float64(len(v)-1))
}

// stderr is the sample std (n − 1) over √n (0 for fewer than two values).
func stderr(v []float64) float64 {
	if len(v) < 2 {
		return 0
	}
	_, sd := meanStdOf(v)
	return sd / math.Sqrt(float64(len(v)))
}
