package nn

import (
	"fmt"
	"math"

	"github.com/flowtune/flowtune/tensor"
)

// TimestepMaxPeriod is the longest wavelength of the sinusoidal timestep embedding.
const TimestepMaxPeriod = 10000

// SinusoidalEmbedding embeds scalar timesteps as [B, dim]: with half = dim/2 and frequencies
// f_i = exp(−ln(10000)·i/half), i < half, row b is [cos(t_b·f_0) … cos(t_b·f_{half−1}),
// sin(t_b·f_0) … sin(t_b·f_{half−1})] (diffusers' get_timestep_embedding with
// flip_sin_to_cos=True, downscale_freq_shift=0, as SD3 uses; an odd dim gets a zero last column).
// The model's time input is the timestep 1000·σ, not σ (docs/algorithms.md §1.2). Computed in float64 on the
// host: it is a constant of the graph.
func SinusoidalEmbedding(b tensor.Backend, timesteps []float32, dim int) *tensor.Tensor {
	if dim < 2 || len(timesteps) == 0 {
		panic(fmt.Sprintf("nn.SinusoidalEmbedding: dim %d, %d timesteps", dim, len(timesteps)))
	}
	half := dim / 2
	out := make([]float32, len(timesteps)*dim)
	for r, t := range timesteps {
		row := out[r*dim : (r+1)*dim]
		for i := 0; i < half; i++ {
			arg := float64(t) * math.Exp(-math.Log(TimestepMaxPeriod)*float64(i)/float64(half))
			row[i] = float32(math.Cos(arg))
			row[half+i] = float32(math.Sin(arg))
		}
	}
	return tensor.New(b, out, len(timesteps), dim)
}

// EmbedMLP is Linear → SiLU → Linear, the projection SD3 applies to the timestep's sinusoidal
// features and to the pooled text embedding before adding them into the conditioning vector.
type EmbedMLP struct {
	Linear1, Linear2 *Linear
}

// NewEmbedMLP maps in features to dim; weights N(0, 0.02²), zero biases (DiT's init).
func NewEmbedMLP(b tensor.Backend, in, dim int, rng *tensor.RNG) *EmbedMLP {
	e := &EmbedMLP{Linear1: NewLinearZero(b, in, dim), Linear2: NewLinearZero(b, dim, dim)}
	InitNormal(e.Linear1.Weight, rng, 0.02)
	InitNormal(e.Linear2.Weight, rng, 0.02)
	return e
}

// Forward maps x [..., in] to [..., dim].
func (e *EmbedMLP) Forward(x *tensor.Tensor) *tensor.Tensor {
	return e.Linear2.Forward(tensor.SiLU(e.Linear1.Forward(x)))
}

// Children: linear_1, linear_2.
func (e *EmbedMLP) Children(visit func(name string, m Module)) {
	visit("linear_1", e.Linear1)
	visit("linear_2", e.Linear2)
}

// Params visits linear_1.* and linear_2.*.
func (e *EmbedMLP) Params(prefix string, visit func(name string, p *tensor.Tensor)) {
	ChildParams(e, prefix, visit)
}

// TimestepEmbedder is SinusoidalEmbedding(FreqDim) followed by an EmbedMLP to the model width.
type TimestepEmbedder struct {
	FreqDim int
	*EmbedMLP
}

// NewTimestepEmbedder makes the embedder; SD3 uses freqDim 256.
func NewTimestepEmbedder(b tensor.Backend, freqDim, dim int, rng *tensor.RNG) *TimestepEmbedder {
	return &TimestepEmbedder{FreqDim: freqDim, EmbedMLP: NewEmbedMLP(b, freqDim, dim, rng)}
}

// Embed maps timesteps (1000·σ per sample) to [B, dim].
func (e *TimestepEmbedder) Embed(timesteps []float32) *tensor.Tensor {
	return e.Forward(SinusoidalEmbedding(e.Linear1.Weight.Backend(), timesteps, e.FreqDim))
}

// TokenEmbedding maps token ids to vectors and adds a learned absolute position embedding.
type TokenEmbedding struct {
	Weight *tensor.Tensor // [vocab, dim]
	Pos    *tensor.Tensor // [maxLen, dim]
}

// NewTokenEmbedding draws both tables from N(0, 0.02²).
func NewTokenEmbedding(b tensor.Backend, vocab, maxLen, dim int, rng *tensor.RNG) *TokenEmbedding {
	e := &TokenEmbedding{Weight: newParam(b, vocab, dim), Pos: newParam(b, maxLen, dim)}
	InitNormal(e.Weight, rng, 0.02)
	InitNormal(e.Pos, rng, 0.02)
	return e
}

// Forward embeds ids, a row-major [batch, L] block, to [batch, L, dim].
func (e *TokenEmbedding) Forward(ids []int32, batch int) *tensor.Tensor {
	if batch <= 0 || len(ids)%batch != 0 {
		panic(fmt.Sprintf("nn.TokenEmbedding: %d ids do not split into %d rows", len(ids), batch))
	}
	l, dim := len(ids)/batch, e.Weight.Dim(1)
	if l > e.Pos.Dim(0) {
		panic(fmt.Sprintf("nn.TokenEmbedding: sequence length %d exceeds the %d positions", l, e.Pos.Dim(0)))
	}
	tok := tensor.Reshape(tensor.Embedding(e.Weight, ids), batch, l, dim)
	return tensor.Add(tok, tensor.Slice(e.Pos, 0, 0, l))
}

// Params visits weight and pos_embed.
func (e *TokenEmbedding) Params(prefix string, visit func(name string, p *tensor.Tensor)) {
	visit(Join(prefix, "weight"), e.Weight)
	visit(Join(prefix, "pos_embed"), e.Pos)
}

// Patchify cuts images x [B, C, H, W] into non-overlapping p×p patches, row-major over the
// (H/p)×(W/p) grid: [B, (H/p)(W/p), C·p·p], each patch vector ordered (channel, row, column)
// like a flattened Conv2d kernel, so a Linear on patches is SD3's stride-p patch convolution.
func Patchify(x *tensor.Tensor, p int) *tensor.Tensor {
	if x.Dims() != 4 || p <= 0 || x.Dim(2)%p != 0 || x.Dim(3)%p != 0 {
		panic(fmt.Sprintf("nn.Patchify: input %v, patch %d", x.Shape(), p))
	}
	b, c, h, w := x.Dim(0), x.Dim(1), x.Dim(2)/p, x.Dim(3)/p
	t := tensor.Reshape(x, b, c, h, p, w, p)
	t = tensor.Permute(t, 0, 2, 4, 1, 3, 5) // [B, h, w, C, p, p]
	return tensor.Reshape(t, b, h*w, c*p*p)
}

// Unpatchify is the inverse of Patchify: [B, (H/p)(W/p), C·p·p] → [B, C, H, W].
func Unpatchify(x *tensor.Tensor, p, c, h, w int) *tensor.Tensor {
	if x.Dims() != 3 || p <= 0 || h%p != 0 || w%p != 0 || x.Dim(1) != (h/p)*(w/p) || x.Dim(2) != c*p*p {
		panic(fmt.Sprintf("nn.Unpatchify: input %v, patch %d, image %d×%d×%d", x.Shape(), p, c, h, w))
	}
	b, gh, gw := x.Dim(0), h/p, w/p
	t := tensor.Reshape(x, b, gh, gw, c, p, p)
	t = tensor.Permute(t, 0, 3, 1, 4, 2, 5) // [B, C, h, p, w, p]
	return tensor.Reshape(t, b, c, h, w)
}

// PatchEmbed turns latents [B, C, H, W] into tokens [B, N, D]: Patchify, a Linear from C·p·p
// to D, plus a learned position embedding per grid cell ([N, D], N = (H/p)(W/p)).
type PatchEmbed struct {
	Proj                  *Linear
	Pos                   *tensor.Tensor // [N, D]
	Patch, Channels, H, W int            // latent geometry the position table was made for
}

// NewPatchEmbed makes the embedding for C×H×W latents and patch size p: Xavier projection,
// zero bias, positions from the 2-D sin-cos table.
func NewPatchEmbed(b tensor.Backend, c, h, w, p, dim int, rng *tensor.RNG) *PatchEmbed {
	if p <= 0 || h%p != 0 || w%p != 0 {
		panic(fmt.Sprintf("nn.NewPatchEmbed: %d×%d latents, patch %d", h, w, p))
	}
	e := &PatchEmbed{Proj: NewLinearXavier(b, c*p*p, dim, rng), Pos: newParam(b, (h/p)*(w/p), dim),
		Patch: p, Channels: c, H: h, W: w}
	e.Pos.SetData(SinCos2D(h/p, w/p, dim))
	return e
}

// SinCos2D is DiT's / SD3's fixed 2-D position table for a gh×gw token grid, [gh·gw, dim]
// row-major over the grid: the first half of each row encodes the column, the second half the
// row, each as [sin(pos·ω_i), cos(pos·ω_i)] with ω_i = 10000^(−i/(dim/4)), i < dim/4.
// Position tables start from it (they stay trainable): unit-scale, distinct and smooth in
// space, so attention can tell neighbours apart from the first step.
func SinCos2D(gh, gw, dim int) []float32 {
	if dim%4 != 0 {
		panic(fmt.Sprintf("nn.SinCos2D: dim %d is not a multiple of 4", dim))
	}
	q := dim / 4
	out := make([]float32, gh*gw*dim)
	for r := 0; r < gh; r++ {
		for c := 0; c < gw; c++ {
			row := out[(r*gw+c)*dim:]
			for i := 0; i < q; i++ {
				omega := math.Pow(10000, -float64(i)/float64(q))
				row[i], row[q+i] = float32(math.Sin(float64(c)*omega)), float32(math.Cos(float64(c)*omega))
				row[2*q+i], row[3*q+i] = float32(math.Sin(float64(r)*omega)), float32(math.Cos(float64(r)*omega))
			}
		}
	}
	return out
}

// Forward maps x [B, C, H, W] to [B, N, D].
func (e *PatchEmbed) Forward(x *tensor.Tensor) *tensor.Tensor {
	if x.Dims() != 4 || x.Dim(1) != e.Channels || x.Dim(2) != e.H || x.Dim(3) != e.W {
		panic(fmt.Sprintf("nn.PatchEmbed: input %v, want [B, %d, %d, %d]", x.Shape(), e.Channels, e.H, e.W))
	}
	return tensor.Add(e.Proj.Forward(Patchify(x, e.Patch)), e.Pos)
}

// Children: proj.
func (e *PatchEmbed) Children(visit func(name string, m Module)) { visit("proj", e.Proj) }

// Params visits proj.* and pos_embed.
func (e *PatchEmbed) Params(prefix string, visit func(name string, p *tensor.Tensor)) {
	ChildParams(e, prefix, visit)
	visit(Join(prefix, "pos_embed"), e.Pos)
}
