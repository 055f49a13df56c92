package vae

import (
	"fmt"
	"image"
	"math"
	"sort"
	"strings"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/tensor"
)

// Decoder is the SD3 VAE decoder on one backend. Its parameters are frozen (no gradients).
type Decoder struct {
	Config Config
	params map[string]*tensor.Tensor
}

const normEps = 1e-6

// shapes lists every parameter of the decoder for cfg with its shape.
func shapes(c Config) map[string][]int {
	s := map[string][]int{}
	conv := func(name string, out, in, k int) {
		s[name+".weight"], s[name+".bias"] = []int{out, in, k, k}, []int{out}
	}
	norm := func(name string, ch int) { s[name+".weight"], s[name+".bias"] = []int{ch}, []int{ch} }
	resnet := func(name string, in, out int) {
		norm(name+".norm1", in)
		conv(name+".conv1", out, in, 3)
		norm(name+".norm2", out)
		conv(name+".conv2", out, out, 3)
		if in != out {
			conv(name+".nin_shortcut", out, in, 1)
		}
	}
	L := len(c.BlockChannels)
	ch := c.BlockChannels[L-1]
	conv("decoder.conv_in", ch, c.LatentChannels, 3)
	resnet("decoder.mid.block_1", ch, ch)
	norm("decoder.mid.attn_1.norm", ch)
	for _, p := range []string{"q", "k", "v", "proj_out"} {
		conv("decoder.mid.attn_1."+p, ch, ch, 1)
	}
	resnet("decoder.mid.block_2", ch, ch)
	for level := L - 1; level >= 0; level-- {
		out := c.BlockChannels[level]
		for j := 0; j <= c.LayersPerBlock; j++ {
			resnet(fmt.Sprintf("decoder.up.%d.block.%d", level, j), ch, out)
			ch = out
		}
		if level != 0 {
			conv(fmt.Sprintf("decoder.up.%d.upsample.conv", level), ch, ch, 3)
		}
	}
	norm("decoder.norm_out", ch)
	conv("decoder.conv_out", c.OutChannels, ch, 3)
	return s
}

// NewRandom builds a decoder with PyTorch's default initialisation (uniform ±1/√fan_in for
// convolution weights and biases, unit GroupNorm weights and zero biases) from seed: for tests
// and the small random pipeline.
func NewRandom(be tensor.Backend, c Config, seed uint64) (*Decoder, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	rng := tensor.NewRNG(seed)
	d := &Decoder{Config: c, params: map[string]*tensor.Tensor{}}
	names := sortedNames(shapes(c))
	sh := shapes(c)
	for _, name := range names {
		shape := sh[name]
		t := tensor.Zeros(be, shape...)
		switch {
		case len(shape) == 4 || (len(shape) == 1 && isConvBias(sh, name)):
			fan, w := 1, shape
			if len(shape) == 1 {
				w = sh[strings.TrimSuffix(name, "bias")+"weight"]
			}
			for _, v := range w[1:] {
				fan *= v
			}
			bound := float32(1 / math.Sqrt(float64(fan)))
			t = tensor.AddScalar(tensor.MulScalar(rng.Uniform(be, shape...), 2*bound), -bound)
		case strings.HasSuffix(name, "weight"):
			t = tensor.Full(be, 1, shape...)
		}
		d.params[name] = t
	}
	return d, nil
}

// isConvBias reports whether name is the bias of a 4-d (convolution) weight.
func isConvBias(sh map[string][]int, name string) bool {
	base, ok := strings.CutSuffix(name, "bias")
	return ok && len(sh[base+"weight"]) == 4
}

func sortedNames(m map[string][]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Params visits every parameter in name order (nn.Module).
func (d *Decoder) Params(prefix string, visit func(name string, p *tensor.Tensor)) {
	names := make([]string, 0, len(d.params))
	for k := range d.params {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if prefix != "" {
			visit(prefix+"."+k, d.params[k])
		} else {
			visit(k, d.params[k])
		}
	}
}

func (d *Decoder) p(name string) *tensor.Tensor { return d.params[name] }

func (d *Decoder) conv(name string, x *tensor.Tensor) *tensor.Tensor {
	w := d.p(name + ".weight")
	return tensor.Conv2D(x, w, d.p(name+".bias"), 1, w.Dim(2)/2)
}

func (d *Decoder) norm(name string, x *tensor.Tensor) *tensor.Tensor {
	return tensor.GroupNorm(x, d.p(name+".weight"), d.p(name+".bias"), d.Config.NormGroups, normEps)
}

func (d *Decoder) resnet(name string, x *tensor.Tensor) *tensor.Tensor {
	h := d.conv(name+".conv1", tensor.SiLU(d.norm(name+".norm1", x)))
	h = d.conv(name+".conv2", tensor.SiLU(d.norm(name+".norm2", h)))
	if _, ok := d.params[name+".nin_shortcut.weight"]; ok {
		x = d.conv(name+".nin_shortcut", x)
	}
	return tensor.Add(x, h)
}

// attention is the mid-block's single-head self-attention over all H·W pixels, with a residual.
func (d *Decoder) attention(name string, x *tensor.Tensor) *tensor.Tensor {
	B, C, H, W := x.Dim(0), x.Dim(1), x.Dim(2), x.Dim(3)
	h := d.norm(name+".norm", x)
	tokens := func(t *tensor.Tensor) *tensor.Tensor { // [B,C,H,W] → [B,1,HW,C]
		return tensor.Reshape(tensor.Permute(tensor.Reshape(t, B, C, H*W), 0, 2, 1), B, 1, H*W, C)
	}
	q, k, v := tokens(d.conv(name+".q", h)), tokens(d.conv(name+".k", h)), tokens(d.conv(name+".v", h))
	a := tensor.Attention(q, k, v, nil, float32(1/math.Sqrt(float64(C))))
	a = tensor.Reshape(tensor.Permute(tensor.Reshape(a, B, H*W, C), 0, 2, 1), B, C, H, W)
	return tensor.Add(x, d.conv(name+".proj_out", a))
}

// Forward runs the decoder network on z [B, LatentChannels, h, w] (already unscaled: see
// Decode) and returns [B, OutChannels, h·Factor, w·Factor], nominally in [−1, 1].
func (d *Decoder) Forward(z *tensor.Tensor) *tensor.Tensor {
	c := d.Config
	if z.Dims() != 4 || z.Dim(1) != c.LatentChannels {
		panic(fmt.Sprintf("vae.Decoder.Forward: latent %v, want [B, %d, h, w]", z.Shape(), c.LatentChannels))
	}
	h := d.conv("decoder.conv_in", z)
	h = d.resnet("decoder.mid.block_1", h)
	h = d.attention("decoder.mid.attn_1", h)
	h = d.resnet("decoder.mid.block_2", h)
	for level := len(c.BlockChannels) - 1; level >= 0; level-- {
		for j := 0; j <= c.LayersPerBlock; j++ {
			h = d.resnet(fmt.Sprintf("decoder.up.%d.block.%d", level, j), h)
		}
		if level != 0 {
			h = d.conv(fmt.Sprintf("decoder.up.%d.upsample.conv", level), tensor.Upsample2x(h))
		}
	}
	return d.conv("decoder.conv_out", tensor.SiLU(d.norm("decoder.norm_out", h)))
}

// CheckLatent returns an error unless latents of the given channel count fit this decoder: the
// transformer's output channels must equal the VAE's latent channels.
func (d *Decoder) CheckLatent(channels int) error {
	if channels != d.Config.LatentChannels {
		return fmt.Errorf("vae: the model makes %d-channel latents but the VAE decodes %d-channel ones: use the VAE that belongs to the model", channels, d.Config.LatentChannels)
	}
	return nil
}

// Decode turns model latents [B, C, h, w] into images [B, 3, H, W] in [−1, 1] (not clamped):
// latent/scale + shift, then the network. No gradients are recorded.
func (d *Decoder) Decode(latents *tensor.Tensor) *tensor.Tensor {
	var out *tensor.Tensor
	tensor.NoGrad(func() {
		z := tensor.AddScalar(tensor.MulScalar(latents, float32(1/d.Config.Scale)), float32(d.Config.Shift))
		out = d.Forward(z)
	})
	return out
}

// DecodeUnit is Decode mapped to [0, 1] and clamped, the form image rewards take.
func (d *Decoder) DecodeUnit(latents *tensor.Tensor) *tensor.Tensor {
	var out *tensor.Tensor
	tensor.NoGrad(func() {
		out = tensor.Clamp(tensor.AddScalar(tensor.MulScalar(d.Decode(latents), 0.5), 0.5), 0, 1)
	})
	return out
}

// Images decodes latents into RGB images (8 bits per channel).
func (d *Decoder) Images(latents *tensor.Tensor) []*image.RGBA {
	return diffusion.Images(d.Decode(latents))
}
