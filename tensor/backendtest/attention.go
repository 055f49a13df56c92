package backendtest

import (
	"fmt"
	"math"

	"github.com/flowtune/flowtune/tensor"
)

// Attention forward and backward against a float64 reference that materialises the full
// score matrix. The reference backward is checked against finite differences of the
// reference forward first. Sizes straddle the usual query/key tiles (1, 31, 33, 65, 129, 257).

type attnCase struct {
	b, h, lq, lk, dh int
	mask             bool
}

func (c attnCase) String() string {
	return fmt.Sprintf("B%d_H%d_Lq%d_Lk%d_Dh%d/mask=%v", c.b, c.h, c.lq, c.lk, c.dh, c.mask)
}

// attnRef holds the float64 forward: probabilities P [B,H,Lq,Lk], out and lse.
type attnRef struct {
	p, out, lse []float64
}

// attentionRef computes softmax(scale·QKᵀ + mask)·V per (b, h) with the whole score matrix.
func attentionRef(c attnCase, q, k, v, mask []float64, scale float64) attnRef {
	r := attnRef{
		p:   make([]float64, c.b*c.h*c.lq*c.lk),
		out: make([]float64, c.b*c.h*c.lq*c.dh),
		lse: make([]float64, c.b*c.h*c.lq),
	}
	for bh := 0; bh < c.b*c.h; bh++ {
		for i := 0; i < c.lq; i++ {
			row := r.p[(bh*c.lq+i)*c.lk : (bh*c.lq+i+1)*c.lk]
			m := math.Inf(-1)
			for j := range row {
				dot := 0.0
				for t := 0; t < c.dh; t++ {
					dot += q[(bh*c.lq+i)*c.dh+t] * k[(bh*c.lk+j)*c.dh+t]
				}
				row[j] = scale * dot
				if mask != nil {
					row[j] += mask[(bh/c.h)*c.lk+j]
				}
				m = math.Max(m, row[j])
			}
			z := 0.0
			for j := range row {
				z += math.Exp(row[j] - m)
			}
			lse := m + math.Log(z)
			r.lse[bh*c.lq+i] = lse
			for j := range row {
				row[j] = math.Exp(row[j] - lse)
			}
			for t := 0; t < c.dh; t++ {
				o := 0.0
				for j := range row {
					o += row[j] * v[(bh*c.lk+j)*c.dh+t]
				}
				r.out[(bh*c.lq+i)*c.dh+t] = o
			}
		}
	}
	return r
}

// attentionBackwardRef: dV = Pᵀ·dO, dP = dO·Vᵀ, dS = P ⊙ (dP − rowsum(dO ⊙ O)),
// dQ = scale·dS·K, dK = scale·dSᵀ·Q. magQ and magK are the largest sums of the magnitudes of
// the terms behind one element of dQ and dK: dP − rowsum cancels (exactly, when Lk = 1), so
// the gradients may be far smaller than the rounding of their terms.
func attentionBackwardRef(c attnCase, r attnRef, q, k, v, dout []float64, scale float64) (dq, dk, dv []float64, magQ, magK float64) {
	dq, dk, dv = make([]float64, len(q)), make([]float64, len(k)), make([]float64, len(v))
	mq, mk := make([]float64, len(q)), make([]float64, len(k))
	for bh := 0; bh < c.b*c.h; bh++ {
		for i := 0; i < c.lq; i++ {
			qi := (bh*c.lq + i) * c.dh
			d := 0.0
			for t := 0; t < c.dh; t++ {
				d += dout[qi+t] * r.out[qi+t]
			}
			for j := 0; j < c.lk; j++ {
				kj := (bh*c.lk + j) * c.dh
				p := r.p[(bh*c.lq+i)*c.lk+j]
				dp := 0.0
				for t := 0; t < c.dh; t++ {
					dv[kj+t] += p * dout[qi+t]
					dp += dout[qi+t] * v[kj+t]
				}
				ds := scale * p * (dp - d)
				dsMag := scale * p * (math.Abs(dp) + math.Abs(d))
				for t := 0; t < c.dh; t++ {
					dq[qi+t] += ds * k[kj+t]
					dk[kj+t] += ds * q[qi+t]
					mq[qi+t] += dsMag * math.Abs(k[kj+t])
					mk[kj+t] += dsMag * math.Abs(q[qi+t])
				}
			}
		}
	}
	return dq, dk, dv, maxAbs(mq), maxAbs(mk)
}

// attnMask keeps about two keys in three (always key 0), drops the rest with a large negative
// bias, and gives the kept ones small biases so the additive path is exercised too.
func (s *suite) attnMask(b, lk int) []float32 {
	m := make([]float32, b*lk)
	for i := range m {
		switch {
		case i%lk != 0 && s.rng.IntN(3) == 0:
			m[i] = -1e9
		default:
			m[i] = float32(s.rng.NormFloat64() * 0.5)
		}
	}
	return m
}

func testAttention(s *suite) {
	s.sub("reference-vs-FD", func(s *suite) {
		c := attnCase{b: 2, h: 2, lq: 3, lk: 4, dh: 3, mask: true}
		q, k, v := f64(s.normal(c.b*c.h*c.lq*c.dh, 1)), f64(s.normal(c.b*c.h*c.lk*c.dh, 1)), f64(s.normal(c.b*c.h*c.lk*c.dh, 1))
		mask, dout := f64(s.attnMask(c.b, c.lk)), f64(s.normal(len(q), 1))
		const scale = 0.6
		dq, dk, dv, _, _ := attentionBackwardRef(c, attentionRef(c, q, k, v, mask, scale), q, k, v, dout, scale)
		nq, nk := len(q), len(k)
		all := append(append(append([]float64(nil), q...), k...), v...)
		grad := append(append(append([]float64(nil), dq...), dk...), dv...)
		s.checkFD("attention backward", dotWith(dout, func(x []float64) []float64 {
			return attentionRef(c, x[:nq], x[nq:nq+nk], x[nq+nk:], mask, scale).out
		}), all, grad)
	})
	cases := []attnCase{
		{1, 1, 1, 1, 1, false},
		{1, 1, 1, 1, 1, true},
		{2, 3, 31, 33, 8, true},
		{1, 2, 65, 129, 16, false},
		{2, 1, 3, 257, 4, true},
		{1, 1, 130, 1, 5, false},
		{2, 2, 100, 97, 64, true},
	}
	for _, c := range cases {
		s.sub(c.String(), func(s *suite) { s.attentionCase(c) })
	}
}

func (s *suite) attentionCase(c attnCase) {
	scale := float32(1 / math.Sqrt(float64(c.dh)))
	nq, nkv := c.b*c.h*c.lq*c.dh, c.b*c.h*c.lk*c.dh
	q, k, v := s.normal(nq, 1.5), s.normal(nkv, 1.5), s.normal(nkv, 1)
	var mask []float32
	var mask64 []float64
	if c.mask {
		mask = s.attnMask(c.b, c.lk)
		mask64 = f64(mask)
	}
	ref := attentionRef(c, f64(q), f64(k), f64(v), mask64, float64(scale))
	args := tensor.AttnArgs{B: c.b, H: c.h, Lq: c.lq, Lk: c.lk, Dh: c.dh, Scale: scale}

	qs, ks, vs, ms := s.put(q), s.put(k), s.put(v), s.optional(mask)
	out, lse := s.poisoned(nq), s.poisoned(c.b*c.h*c.lq)
	s.b.Attention(out, lse, qs, ks, vs, ms, args)
	tol := s.opt.AttentionTol
	s.near("Attention out", s.get(out), ref.out, tol*maxAbs(ref.out), tol)
	s.near("Attention lse", s.get(lse), ref.lse, tol, tol)

	// Backward from the backend's own out and lse, as the tape calls it.
	dout := s.normal(nq, 1)
	dqRef, dkRef, dvRef, magQ, magK := attentionBackwardRef(c, ref, f64(q), f64(k), f64(v), f64(dout), float64(scale))
	dq, dk, dv := s.poisoned(nq), s.poisoned(nkv), s.poisoned(nkv)
	s.b.AttentionBackward(dq, dk, dv, s.put(dout), qs, ks, vs, out, lse, ms, args)
	s.near("AttentionBackward dq", s.get(dq), dqRef, tol*magQ, tol)
	s.near("AttentionBackward dk", s.get(dk), dkRef, tol*magK, tol)
	s.near("AttentionBackward dv", s.get(dv), dvRef, tol*maxAbs(dvRef), tol)
}
