package tensor

import "math"

// Scalar float32 math for the hot loops of the CPU backend. Go's math package works in float64
// and its Exp costs several times more than the float32 range reduction and polynomial below,
// which softmax, attention and the sigmoid-family activations call once per element.

// expf returns e^x to within 2 ulp of float32 (see TestExpf). Results below the smallest
// normal float32 (x < −87.33) flush to 0; x > 88.72 gives +Inf; NaN stays NaN.
//
// Method (Cephes expf): x = n·ln2 + r with |r| ≤ ln2/2 (ln2 split in two parts so n·ln2 is
// exact), e^r from a degree-6 minimax polynomial, and 2^n put in the exponent bits.
func expf(x float32) float32 {
	if y, edge := expfEdge(x); edge {
		return y
	}
	return scale2(expfReduced(x))
}

// expfSlice sets d[i] = expf(x[i]) for every i (d and x may be the same slice), bit for bit.
// Where the CPU has AVX2 the bulk runs eight at a time in assembly (cpu_math_amd64.s), and the
// rest here. expf is too large for the compiler to inline, so the Go loop calls its three
// helpers, which do inline, and nothing is called per element.
func expfSlice(d, x []float32) {
	x = x[:len(d)]
	n := expfVector(d, x)
	expfScalar(d[n:], x[n:])
}

// expfScalar is expfSlice in Go alone.
func expfScalar(d, x []float32) {
	x = x[:len(d)]
	for i, v := range x {
		if y, edge := expfEdge(v); edge {
			d[i] = y
			continue
		}
		d[i] = scale2(expfReduced(v))
	}
}

// expfEdge returns expf(x) for the inputs outside the range the polynomial serves: +Inf above
// 88.72, 0 below −87.33 (results below the smallest normal float32 flush to 0), and NaN.
func expfEdge(x float32) (y float32, edge bool) {
	switch {
	case x > expfMax:
		return float32(math.Inf(1)), true
	case x < expfMin:
		return 0, true
	case x != x: // NaN
		return x, true
	}
	return 0, false
}

// expfReduced splits e^x as e^r · 2^n with n = round(x·log2e) and |r| ≤ ln2/2, and returns
// e^r from the polynomial, and n.
func expfReduced(x float32) (er, n float32) {
	n = (x*expfLog2e + expfRound) - expfRound
	r := x - n*expfLn2Hi - n*expfLn2Lo
	p := ((((expfP0*r+expfP1)*r+expfP2)*r+expfP3)*r+expfP4)*r + expfP5
	return p*(r*r) + r + 1, n
}

// expf's constants, shared with the assembly's table (cpu_math_amd64.go).
const (
	expfMax   = 88.72283  // above: +Inf
	expfMin   = -87.33654 // below: 0 (the result would be below the smallest normal float32)
	expfLog2e = 1.44269504088896341
	expfLn2Hi = 0.693359375 // ln2 = ln2Hi + ln2Lo, with n·ln2Hi exact for |n| ≤ 128
	expfLn2Lo = -2.12194440e-4
	// n = round(x·log2e): adding and subtracting 1.5·2²³ rounds a float32 of magnitude below
	// 2²² to the nearest integer (the float32 spacing there is 1).
	expfRound = 12582912
	// e^r ≈ 1 + r + r²·(P0·r⁵ + … + P5), the minimax polynomial on |r| ≤ ln2/2.
	expfP0 = 1.9875691500e-4
	expfP1 = 1.3981999507e-3
	expfP2 = 8.3334519073e-3
	expfP3 = 4.1665795894e-2
	expfP4 = 1.6666665459e-1
	expfP5 = 5.0000001201e-1
)

// scale2 returns e·2^n for a whole n in [−126, 128], by putting n in the exponent bits.
func scale2(e, n float32) float32 {
	k := int32(n)
	if k > 127 { // 2^128 is not a float32: scale in two steps
		e *= 2
		k--
	}
	return e * math.Float32frombits(uint32(k+127)<<23)
}

// sigmoidf is 1/(1+e^−x) in float32; both tails keep full relative accuracy (for x ≪ 0 the
// result is e^x/(1+e^x) with e^x tiny, never a difference of nearly equal numbers).
func sigmoidf(x float32) float32 {
	return 1 / (1 + expf(-x))
}
