package tensor_test

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/flowtune/flowtune/tensor"
)

// Float64 references of the row-wise primitives, over the last axis.

func refSoftmax(x []float32, cols int) []float64 {
	out := make([]float64, len(x))
	for r := 0; r < len(x)/cols; r++ {
		row := x[r*cols : (r+1)*cols]
		m := math.Inf(-1)
		for _, v := range row {
			m = math.Max(m, float64(v))
		}
		var z float64
		for j, v := range row {
			out[r*cols+j] = math.Exp(float64(v) - m)
			z += out[r*cols+j]
		}
		for j := range row {
			out[r*cols+j] /= z
		}
	}
	return out
}

// refNorm is LayerNorm (center true) or RMSNorm (center false); w and b may be nil.
func refNorm(x []float32, cols int, w, b []float32, eps float64, center bool) []float64 {
	out := make([]float64, len(x))
	for r := 0; r < len(x)/cols; r++ {
		row := x[r*cols : (r+1)*cols]
		var mean, sq float64
		if center {
			for _, v := range row {
				mean += float64(v)
			}
			mean /= float64(cols)
		}
		for _, v := range row {
			sq += (float64(v) - mean) * (float64(v) - mean)
		}
		rstd := 1 / math.Sqrt(sq/float64(cols)+eps)
		for j, v := range row {
			y := (float64(v) - mean) * rstd
			if w != nil {
				y *= float64(w[j])
			}
			if b != nil {
				y += float64(b[j])
			}
			out[r*cols+j] = y
		}
	}
	return out
}

func TestSoftmax(t *testing.T) {
	rng := rand.New(rand.NewSource(12))
	for _, shape := range [][]int{{1, 3, 5}, {2, 7, 1, 3}, {4}, {3, 1}} {
		x := randNormal(rng, shape...)
		assertClose(t, fmt.Sprint("Softmax", shape), tensor.Softmax(x), refSoftmax(x.Data(), shape[len(shape)-1]), gradTol{1e-6, 1e-5})
		checkGrad(t, func(in []*tensor.Tensor) *tensor.Tensor { return tensor.Softmax(in[0]) }, x)
	}
	// Large logits must not overflow.
	big := tensor.New(cpu, []float32{1000, 1001, 999}, 3)
	assertClose(t, "Softmax large", tensor.Softmax(big), refSoftmax(big.Data(), 3), gradTol{1e-6, 1e-5})
}

func TestLayerNormAndRMSNorm(t *testing.T) {
	rng := rand.New(rand.NewSource(13))
	const eps = 1e-5
	for _, shape := range [][]int{{2, 3, 7}, {1, 3, 5}} {
		C := shape[len(shape)-1]
		for _, affine := range []string{"none", "w", "b", "wb"} {
			t.Run(fmt.Sprintf("LayerNorm%v/%s", shape, affine), func(t *testing.T) {
				x := randNormal(rng, shape...)
				var w, b *tensor.Tensor
				inputs := []*tensor.Tensor{x}
				if affine == "w" || affine == "wb" {
					w = randUniform(rng, 0.5, 1.5, C)
					inputs = append(inputs, w)
				}
				if affine == "b" || affine == "wb" {
					b = randNormal(rng, C)
					inputs = append(inputs, b)
				}
				var wv, bv []float32
				if w != nil {
					wv = w.Data()
				}
				if b != nil {
					bv = b.Data()
				}
				assertClose(t, "LayerNorm", tensor.LayerNorm(x, w, b, eps), refNorm(x.Data(), C, wv, bv, eps, true), gradTol{2e-5, 2e-5})
				checkGrad(t, func(in []*tensor.Tensor) *tensor.Tensor {
					i := 1
					var w2, b2 *tensor.Tensor
					if w != nil {
						w2, i = in[i], i+1
					}
					if b != nil {
						b2 = in[i]
					}
					return tensor.LayerNorm(in[0], w2, b2, eps)
				}, inputs...)
			})
		}
		for _, affine := range []bool{false, true} {
			t.Run(fmt.Sprintf("RMSNorm%v/w=%v", shape, affine), func(t *testing.T) {
				x := randNormal(rng, shape...)
				if !affine {
					assertClose(t, "RMSNorm", tensor.RMSNorm(x, nil, eps), refNorm(x.Data(), C, nil, nil, eps, false), gradTol{2e-5, 2e-5})
					checkGrad(t, func(in []*tensor.Tensor) *tensor.Tensor { return tensor.RMSNorm(in[0], nil, eps) }, x)
					return
				}
				w := randUniform(rng, 0.5, 1.5, C)
				assertClose(t, "RMSNorm", tensor.RMSNorm(x, w, eps), refNorm(x.Data(), C, w.Data(), nil, eps, false), gradTol{2e-5, 2e-5})
				checkGrad(t, func(in []*tensor.Tensor) *tensor.Tensor { return tensor.RMSNorm(in[0], in[1], eps) }, x, w)
			})
		}
	}
	// A constant row normalises to 0 (no division blow-up), then takes the bias.
	c := tensor.New(cpu, []float32{2, 2, 2}, 1, 3)
	assertClose(t, "constant row", tensor.LayerNorm(c, nil, tensor.New(cpu, []float32{1, 2, 3}, 3), eps), []float64{1, 2, 3}, literalTol)
	mustPanic(t, func() { tensor.LayerNorm(c, tensor.Zeros(cpu, 4), nil, eps) }, "tensor.LayerNorm", "weight", "[4]")
	mustPanic(t, func() { tensor.RMSNorm(c, tensor.Zeros(cpu, 3, 1), eps) }, "tensor.RMSNorm", "[3 1]")
}

// refAttention is softmax(scale·q·kᵀ + mask)·v in float64.
func refAttention(q, k, v, mask *tensor.Tensor, scale float64) []float64 {
	s := q.Shape()
	B, H, Lq, Dh := s[0], s[1], s[2], s[3]
	Lk := k.Shape()[2]
	qv, kv, vv := q.Data(), k.Data(), v.Data()
	var mv []float32
	if mask != nil {
		mv = mask.Data()
	}
	out := make([]float64, len(qv))
	p := make([]float64, Lk)
	for bh := 0; bh < B*H; bh++ {
		b := bh / H
		for i := 0; i < Lq; i++ {
			m := math.Inf(-1)
			for j := 0; j < Lk; j++ {
				var dot float64
				for d := 0; d < Dh; d++ {
					dot += float64(qv[(bh*Lq+i)*Dh+d]) * float64(kv[(bh*Lk+j)*Dh+d])
				}
				p[j] = scale * dot
				if mv != nil {
					p[j] += float64(mv[b*Lk+j])
				}
				m = math.Max(m, p[j])
			}
			var z float64
			for j := range p {
				p[j] = math.Exp(p[j] - m)
				z += p[j]
			}
			for d := 0; d < Dh; d++ {
				var acc float64
				for j := 0; j < Lk; j++ {
					acc += p[j] / z * float64(vv[(bh*Lk+j)*Dh+d])
				}
				out[(bh*Lq+i)*Dh+d] = acc
			}
		}
	}
	return out
}

func TestAttention(t *testing.T) {
	rng := rand.New(rand.NewSource(14))
	for _, c := range []struct{ B, H, Lq, Lk, Dh int }{{2, 2, 3, 5, 4}, {1, 3, 1, 1, 2}, {1, 1, 6, 6, 3}} {
		for _, masked := range []bool{false, true} {
			t.Run(fmt.Sprintf("%+v/mask=%v", c, masked), func(t *testing.T) {
				q := randNormal(rng, c.B, c.H, c.Lq, c.Dh)
				k := randNormal(rng, c.B, c.H, c.Lk, c.Dh)
				v := randNormal(rng, c.B, c.H, c.Lk, c.Dh)
				var mask *tensor.Tensor
				if masked {
					m := make([]float32, c.B*c.Lk)
					for i := range m {
						m[i] = float32(0.5 * rng.NormFloat64())
					}
					if c.Lk > 1 {
						m[c.Lk-1] = -1e9 // the last key of the first sample is dropped
					}
					mask = tensor.New(cpu, m, c.B, c.Lk)
				}
				scale := float32(1 / math.Sqrt(float64(c.Dh)))
				got := tensor.Attention(q, k, v, mask, scale)
				assertShape(t, "Attention", got, c.B, c.H, c.Lq, c.Dh)
				assertClose(t, "Attention", got, refAttention(q, k, v, mask, float64(scale)), gradTol{1e-5, 1e-4})
				checkGrad(t, func(in []*tensor.Tensor) *tensor.Tensor { return tensor.Attention(in[0], in[1], in[2], mask, scale) }, q, k, v)
			})
		}
	}
	q := tensor.Zeros(cpu, 1, 2, 3, 4)
	mustPanic(t, func() { tensor.Attention(q, tensor.Zeros(cpu, 1, 2, 5, 3), tensor.Zeros(cpu, 1, 2, 5, 3), nil, 1) }, "tensor.Attention", "[1 2 5 3]")
	mustPanic(t, func() { tensor.Attention(q, q, q, tensor.Zeros(cpu, 1, 4), 1) }, "tensor.Attention", "mask [1 4]")
}

func TestEmbedding(t *testing.T) {
	table := tensor.New(cpu, []float32{0, 1, 10, 11, 20, 21}, 3, 2)
	idx := []int32{2, 0, 2, 1}
	got := tensor.Embedding(table, idx)
	assertShape(t, "Embedding", got, 4, 2)
	assertClose(t, "Embedding", got, []float64{20, 21, 0, 1, 20, 21, 10, 11}, literalTol)

	// Repeated rows accumulate; the caller's slice may change after the call.
	table.SetRequiresGrad(true)
	y := tensor.Embedding(table, idx)
	idx[0] = 1
	y.Backward(tensor.New(cpu, []float32{1, 2, 3, 4, 5, 6, 7, 8}, 4, 2))
	assertClose(t, "Embedding grad", table.Grad(), []float64{3, 4, 7, 8, 6, 8}, literalTol)

	rng := rand.New(rand.NewSource(15))
	checkGrad(t, func(in []*tensor.Tensor) *tensor.Tensor { return tensor.Embedding(in[0], []int32{4, 1, 4, 0, 3}) }, randNormal(rng, 5, 3))
	mustPanic(t, func() { tensor.Embedding(table, []int32{0, 3}) }, "tensor.Embedding", "index 3", "[0,3)")
	mustPanic(t, func() { tensor.Embedding(table, []int32{-1}) }, "tensor.Embedding", "index -1")
}
