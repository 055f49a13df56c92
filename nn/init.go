package nn

import (
	"math"

	"github.com/flowtune/flowtune/tensor"
)

// Parameter initialisers. Each draws from a *tensor.RNG (Philox: deterministic per seed and
// stream offset) on the tensor's own backend, maps the draw on the host, and uploads it. They
// run once per parameter at model construction, so the round trip does not matter.

// InitUniform fills t with independent draws from U(lo, hi).
func InitUniform(t *tensor.Tensor, rng *tensor.RNG, lo, hi float64) {
	u := rng.Uniform(t.Backend(), t.Shape()...).Data() // (0, 1]
	for i, v := range u {
		u[i] = float32(lo + (hi-lo)*float64(v))
	}
	t.SetData(u)
}

// InitNormal fills t with independent draws from N(0, std²).
func InitNormal(t *tensor.Tensor, rng *tensor.RNG, std float64) {
	z := rng.Normal(t.Backend(), t.Shape()...).Data()
	for i, v := range z {
		z[i] = float32(std * float64(v))
	}
	t.SetData(z)
}

// InitXavierUniform fills a [out, in] weight from U(±√(6/(in+out))) (Glorot; DiT's choice for
// every transformer Linear).
func InitXavierUniform(w *tensor.Tensor, rng *tensor.RNG) {
	out, in := w.Dim(0), w.Dim(-1)
	bound := math.Sqrt(6 / float64(in+out))
	InitUniform(w, rng, -bound, bound)
}
