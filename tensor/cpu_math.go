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
	switch {
	case x > 88.72283:
		return float32(math.Inf(1))
	case x < -87.33654:
		return 0
	case x != x: // NaN
		return x
	}
	const (
		log2e = 1.44269504088896341
		ln2Hi = 0.693359375
		ln2Lo = -2.12194440e-4
	)
	// n = round(x·log2e): adding and subtracting 1.5·2²³ rounds a float32 of magnitude
	// below 2²² to the nearest integer (the float32 spacing there is 1).
	const round = 12582912
	n := (x*log2e + round) - round
	r := x - n*ln2Hi - n*ln2Lo
	r2 := r * r
	p := ((((1.9875691500e-4*r+1.3981999507e-3)*r+8.3334519073e-3)*r+4.1665795894e-2)*r+1.6666665459e-1)*r + 5.0000001201e-1
	e := p*r2 + r + 1
	k := int32(n)
	if k > 127 { // 2^128 is not a float32: scale in two steps
		e *= 2
		k--
	}
	return e * math.Float32frombits(uint32(k+127)<<23)
}

// expfSlice sets d[i] = expf(x[i]) for every i, bit for bit (d and x may be the same slice).
// It is expf's arithmetic written out in the loop body: expf is too large for the compiler to
// inline, and at a call per element the call is a third of the work of softmax and the
// sigmoid-family activations. TestExpfSliceIsExpf holds the two copies together.
func expfSlice(d, x []float32) {
	const (
		log2e = 1.44269504088896341
		ln2Hi = 0.693359375
		ln2Lo = -2.12194440e-4
		round = 12582912
	)
	x = x[:len(d)]
	for i, v := range x {
		switch {
		case v > 88.72283:
			d[i] = float32(math.Inf(1))
			continue
		case v < -87.33654:
			d[i] = 0
			continue
		case v != v:
			d[i] = v
			continue
		}
		n := (v*log2e + round) - round
		r := v - n*ln2Hi - n*ln2Lo
		r2 := r * r
		p := ((((1.9875691500e-4*r+1.3981999507e-3)*r+8.3334519073e-3)*r+4.1665795894e-2)*r+1.6666665459e-1)*r + 5.0000001201e-1
		e := p*r2 + r + 1
		k := int32(n)
		if k > 127 {
			e *= 2
			k--
		}
		d[i] = e * math.Float32frombits(uint32(k+127)<<23)
	}
}

// sigmoidf is 1/(1+e^−x) in float32; both tails keep full relative accuracy (for x ≪ 0 the
// result is e^x/(1+e^x) with e^x tiny, never a difference of nearly equal numbers).
func sigmoidf(x float32) float32 {
	return 1 / (1 + expf(-x))
}
