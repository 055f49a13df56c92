package sd3

import (
	"fmt"

	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/tensor"
)

// patchEmbed turns latents [B, C, H, W] into tokens: 2×2 patches through a Linear (the
// reference's stride-2 convolution, its kernel flattened in (channel, row, column) order),
// plus the centre crop of a fixed position table.
//
// The table covers a Max×Max token grid ([Max², D], row-major); an h×w token grid reads rows
// top … top+h−1 and columns left … left+w−1 with top = (Max−h)/2, left = (Max−w)/2 (integer
// division), as the reference's cropped_pos_embed does. It is a buffer that checkpoints fill
// (SD3.5-Medium: 384² × 1536), kept on the host; the crop for the latest latent size is cached
// on the device.
type patchEmbed struct {
	Proj  *nn.Linear // C·p·p → D
	Table []float32  // [Max·Max·D] host
	Max   int
	Patch int

	cacheH, cacheW int
	cache          *tensor.Tensor // [h·w, D]
}

func (e *patchEmbed) Children(visit func(name string, m nn.Module)) { visit("proj", e.Proj) }

func (e *patchEmbed) Params(prefix string, visit func(string, *tensor.Tensor)) {
	nn.ChildParams(e, prefix, visit)
}

// crop returns the position rows of an h×w token grid on backend b.
func (e *patchEmbed) crop(b tensor.Backend, h, w int) *tensor.Tensor {
	if h > e.Max || w > e.Max {
		panic(fmt.Sprintf("sd3: a %d×%d token grid (latent %d×%d) exceeds the position table's %d×%d (pos_embed_max_size)",
			h, w, h*e.Patch, w*e.Patch, e.Max, e.Max))
	}
	if e.cache != nil && e.cacheH == h && e.cacheW == w && e.cache.Backend() == b {
		return e.cache
	}
	dim := e.Proj.Out()
	top, left := (e.Max-h)/2, (e.Max-w)/2
	out := make([]float32, 0, h*w*dim)
	for r := top; r < top+h; r++ {
		row := (r*e.Max + left) * dim
		out = append(out, e.Table[row:row+w*dim]...)
	}
	e.cache, e.cacheH, e.cacheW = tensor.New(b, out, h*w, dim), h, w
	return e.cache
}

// Forward maps latents x [B, C, H, W] to tokens [B, (H/p)(W/p), D].
func (e *patchEmbed) Forward(x *tensor.Tensor) *tensor.Tensor {
	p := e.Patch
	if x.Dims() != 4 || x.Dim(1)*p*p != e.Proj.In() || x.Dim(2)%p != 0 || x.Dim(3)%p != 0 {
		panic(fmt.Sprintf("sd3: latents %v, want [B, %d, H, W] with H and W multiples of %d", x.Shape(), e.Proj.In()/(p*p), p))
	}
	h, w := x.Dim(2)/p, x.Dim(3)/p
	return tensor.Add(e.Proj.Forward(nn.Patchify(x, p)), e.crop(x.Backend(), h, w))
}

// unpatchify maps tokens [B, h·w, p·p·C] back to [B, C, h·p, w·p]. The reference orders each
// token's outputs (patch row, patch column, channel), not nn.Unpatchify's (channel, row, column).
func unpatchify(x *tensor.Tensor, p, c, h, w int) *tensor.Tensor {
	b := x.Dim(0)
	t := tensor.Reshape(x, b, h, w, p, p, c)
	t = tensor.Permute(t, 0, 5, 1, 3, 2, 4) // [B, C, h, p, w, p]
	return tensor.Reshape(t, b, c, h*p, w*p)
}
