//go:build cuda

package main

import "github.com/flowtune/flowtune/tensor"

// The image kernels behind the VAE decoder (kernels.cu §12): GroupNorm over 128 channels in 32
// groups and the 3×3 im2col / col2im pair, on images of 128 channels whose pixel count follows
// the problem size (the check: 28×28; the timed run: 512 rows).
func imageCases() []kcase {
	const C, groups = 128, 32
	f32 := func(be tensor.Backend, n int) tensor.Storage { return be.Alloc(n, tensor.Float32) }
	gn := func(n int) tensor.GroupNormArgs {
		return tensor.GroupNormArgs{N: 1, C: C, HW: n / C, Groups: groups, Eps: 1e-6}
	}
	conv := func(n int) tensor.ConvArgs {
		hw := n / C
		h := 28
		if hw%512 == 0 {
			h = 512
		}
		return tensor.ConvArgs{Batch: 1, C: C, H: h, W: hw / h, KH: 3, KW: 3, Stride: 1, Pad: 1, OH: h, OW: hw / h}
	}
	return []kcase{
		stream("group_norm (128 ch, 32 groups)", 12, 1e-5, 1, func(be tensor.Backend, n int, in []tensor.Storage) (func(), []tensor.Storage) {
			a := gn(n)
			y, m, r := f32(be, n), f32(be, a.Rows()), f32(be, a.Rows())
			return func() { be.GroupNorm(y, m, r, in[0], nil, nil, a) }, []tensor.Storage{y, m, r}
		}),
		stream("group_norm_backward", 16, 1e-4, 2, func(be tensor.Backend, n int, in []tensor.Storage) (func(), []tensor.Storage) {
			a := gn(n)
			y, m, r, dx := f32(be, n), f32(be, a.Rows()), f32(be, a.Rows()), f32(be, n)
			be.GroupNorm(y, m, r, in[0], nil, nil, a)
			return func() { be.GroupNormBackward(dx, nil, nil, in[1], in[0], m, r, nil, a) }, []tensor.Storage{dx}
		}),
		stream("im2col 3x3", 40, 0, 1, func(be tensor.Backend, n int, in []tensor.Storage) (func(), []tensor.Storage) {
			a := conv(n)
			col := f32(be, 9*n)
			return func() { be.Im2Col(col, in[0], 0, a) }, []tensor.Storage{col}
		}),
		stream("col2im 3x3", 40, 1e-6, 1, func(be tensor.Backend, n int, in []tensor.Storage) (func(), []tensor.Storage) {
			a := conv(n)
			col, dx := f32(be, 9*n), f32(be, n)
			be.Im2Col(col, in[0], 0, a) // a realistic col: the patches of an image
			return func() { be.Col2Im(dx, 0, col, a) }, []tensor.Storage{dx}
		}),
	}
}
