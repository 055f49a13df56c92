package tensor_test

import (
	"math"
	"math/rand"
	"testing"

	"github.com/flowtune/flowtune/tensor"
)

// convRef is a direct float64 cross-correlation: x [N,C,H,W], w [O,C,KH,KW], bias [O] or nil.
func convRef(x []float32, xs []int, w []float32, ws []int, bias []float32, stride, pad int) []float64 {
	N, C, H, W := xs[0], xs[1], xs[2], xs[3]
	O, KH, KW := ws[0], ws[2], ws[3]
	OH, OW := (H+2*pad-KH)/stride+1, (W+2*pad-KW)/stride+1
	out := make([]float64, N*O*OH*OW)
	for n := 0; n < N; n++ {
		for o := 0; o < O; o++ {
			for oh := 0; oh < OH; oh++ {
				for ow := 0; ow < OW; ow++ {
					s := 0.0
					if bias != nil {
						s = float64(bias[o])
					}
					for c := 0; c < C; c++ {
						for i := 0; i < KH; i++ {
							for j := 0; j < KW; j++ {
								h, v := oh*stride-pad+i, ow*stride-pad+j
								if h < 0 || h >= H || v < 0 || v >= W {
									continue
								}
								s += float64(x[((n*C+c)*H+h)*W+v]) * float64(w[((o*C+c)*KH+i)*KW+j])
							}
						}
					}
					out[((n*O+o)*OH+oh)*OW+ow] = s
				}
			}
		}
	}
	return out
}

func TestConv2DForward(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, c := range []struct{ n, c, h, w, o, k, stride, pad int }{
		{2, 3, 5, 7, 4, 3, 1, 1}, {1, 2, 6, 6, 3, 3, 2, 1}, {3, 4, 4, 5, 2, 1, 1, 0}, {1, 1, 3, 3, 2, 3, 1, 0}, {2, 2, 5, 4, 3, 2, 2, 0},
	} {
		x := randNormal(rng, c.n, c.c, c.h, c.w)
		w := randNormal(rng, c.o, c.c, c.k, c.k)
		b := randNormal(rng, c.o)
		got := tensor.Conv2D(x, w, b, c.stride, c.pad)
		ref := convRef(x.Data(), x.Shape(), w.Data(), w.Shape(), b.Data(), c.stride, c.pad)
		assertClose(t, "Conv2D", got, ref, gradTol{atol: 1e-5, rtol: 1e-5})
	}
}

func TestConv2DGrad(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for _, c := range []struct{ n, c, h, w, o, k, stride, pad int }{
		{2, 2, 4, 5, 3, 3, 1, 1}, {1, 2, 5, 5, 2, 3, 2, 1}, {2, 3, 3, 4, 2, 1, 1, 0},
	} {
		x, w, b := randNormal(rng, c.n, c.c, c.h, c.w), randNormal(rng, c.o, c.c, c.k, c.k), randNormal(rng, c.o)
		checkGrad(t, func(in []*tensor.Tensor) *tensor.Tensor {
			return tensor.Conv2D(in[0], in[1], in[2], c.stride, c.pad)
		}, x, w, b)
	}
}

// groupNormRef is PyTorch's GroupNorm in float64.
func groupNormRef(x []float32, shape []int, w, b []float32, groups int, eps float64) []float64 {
	N, C := shape[0], shape[1]
	HW := len(x) / (N * C)
	L := C / groups * HW
	out := make([]float64, len(x))
	for r := 0; r < N*groups; r++ {
		mu, v := 0.0, 0.0
		for j := 0; j < L; j++ {
			mu += float64(x[r*L+j])
		}
		mu /= float64(L)
		for j := 0; j < L; j++ {
			d := float64(x[r*L+j]) - mu
			v += d * d
		}
		rs := 1 / math.Sqrt(v/float64(L)+eps)
		for j := 0; j < L; j++ {
			c := (r%groups)*(C/groups) + j/HW
			out[r*L+j] = (float64(x[r*L+j])-mu)*rs*float64(w[c]) + float64(b[c])
		}
	}
	return out
}

func TestGroupNorm(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	x, w, b := randNormal(rng, 2, 6, 3, 4), randNormal(rng, 6), randNormal(rng, 6)
	got := tensor.GroupNorm(x, w, b, 3, 1e-6)
	assertClose(t, "GroupNorm", got, groupNormRef(x.Data(), x.Shape(), w.Data(), b.Data(), 3, 1e-6), gradTol{atol: 1e-5, rtol: 1e-5})
	for _, groups := range []int{1, 2, 6} {
		checkGrad(t, func(in []*tensor.Tensor) *tensor.Tensor {
			return tensor.GroupNorm(in[0], in[1], in[2], groups, 1e-6)
		}, randNormal(rng, 2, 6, 2, 3), randNormal(rng, 6), randNormal(rng, 6))
	}
	mustPanic(t, func() { tensor.GroupNorm(x, w, b, 4, 1e-6) }, "GroupNorm", "divisible")
}

func TestUpsample2x(t *testing.T) {
	x := tensor.New(cpu, []float32{1, 2, 3, 4, 5, 6}, 1, 1, 2, 3)
	got := tensor.Upsample2x(x)
	want := []float64{1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 4, 4, 5, 5, 6, 6}
	assertShape(t, "Upsample2x", got, 1, 1, 4, 6)
	assertClose(t, "Upsample2x", got, want, gradTol{})
	rng := rand.New(rand.NewSource(4))
	checkGrad(t, func(in []*tensor.Tensor) *tensor.Tensor { return tensor.Upsample2x(in[0]) }, randNormal(rng, 2, 2, 2, 3))
}

// TestConv2DChunked forces one image per im2col chunk and checks value and gradients again.
func TestConv2DChunked(t *testing.T) {
	defer tensor.SetConvColBudget(tensor.SetConvColBudget(1))
	rng := rand.New(rand.NewSource(5))
	x, w, b := randNormal(rng, 3, 2, 4, 4), randNormal(rng, 3, 2, 3, 3), randNormal(rng, 3)
	got := tensor.Conv2D(x, w, b, 1, 1)
	assertClose(t, "Conv2D chunked", got, convRef(x.Data(), x.Shape(), w.Data(), w.Shape(), b.Data(), 1, 1), gradTol{atol: 1e-5, rtol: 1e-5})
	checkGrad(t, func(in []*tensor.Tensor) *tensor.Tensor { return tensor.Conv2D(in[0], in[1], in[2], 1, 1) }, x, w, b)
}
