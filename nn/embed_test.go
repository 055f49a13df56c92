package nn

import (
	"math"
	"testing"

	"github.com/flowtune/flowtune/tensor"
)

// Patchify puts pixel (c, i·p+r, j·p+s) of image b at token i·(W/p)+j, feature c·p·p+r·p+s, and
// Unpatchify undoes it exactly.
func TestPatchifyLayoutAndRoundTrip(t *testing.T) {
	const b, c, h, w, p = 2, 3, 4, 6, 2
	v := make([]float32, b*c*h*w)
	for i := range v {
		v[i] = float32(i)
	}
	x := tensor.New(cpu, v, b, c, h, w)
	pt := Patchify(x, p)
	gh, gw := h/p, w/p
	if s := pt.Shape(); len(s) != 3 || s[0] != b || s[1] != gh*gw || s[2] != c*p*p {
		t.Fatalf("patchified shape %v", s)
	}
	got := pt.Data()
	for bi := 0; bi < b; bi++ {
		for ci := 0; ci < c; ci++ {
			for y := 0; y < h; y++ {
				for xx := 0; xx < w; xx++ {
					tok := (y/p)*gw + xx/p
					feat := ci*p*p + (y%p)*p + xx%p
					g := got[(bi*gh*gw+tok)*c*p*p+feat]
					want := v[((bi*c+ci)*h+y)*w+xx]
					if g != want {
						t.Fatalf("pixel (b%d c%d y%d x%d) at token %d feature %d: got %g want %g", bi, ci, y, xx, tok, feat, g, want)
					}
				}
			}
		}
	}
	checkEqual(t, "unpatchify∘patchify", Unpatchify(pt, p, c, h, w).Data(), v)

	// And the other way round on random tokens.
	tok := tensor.NewRNG(1).Normal(cpu, b, gh*gw, c*p*p)
	checkEqual(t, "patchify∘unpatchify", Patchify(Unpatchify(tok, p, c, h, w), p).Data(), tok.Data())
}

// The sinusoidal embedding against its definition, computed here with powers instead of
// exp/log: row = [cos(t·10000^(−i/half)) …, sin(t·10000^(−i/half)) …].
func TestSinusoidalEmbeddingFormula(t *testing.T) {
	ts := []float32{0, 1, 37.5, 500, 999}
	for _, dim := range []int{8, 7} {
		got := f64(SinusoidalEmbedding(cpu, ts, dim).Data())
		half := dim / 2
		var want []float64
		for _, tv := range ts {
			row := make([]float64, dim)
			for i := 0; i < half; i++ {
				f := math.Pow(10000, -float64(i)/float64(half))
				row[i] = math.Cos(float64(tv) * f)
				row[half+i] = math.Sin(float64(tv) * f)
			}
			want = append(want, row...)
		}
		checkClose(t, "sinusoidal embedding", got, want, 1e-6, 1e-6)
	}
	// t = 0 is [1…1, 0…0]; the first frequency is 1, so column half of t = 1 is sin 1.
	e := SinusoidalEmbedding(cpu, []float32{0, 1}, 4).Data()
	checkClose(t, "literal rows", f64(e), []float64{1, 1, 0, 0, math.Cos(1), math.Cos(0.01), math.Sin(1), math.Sin(0.01)}, 1e-7, 1e-6)
}

// The timestep embedder is the MLP applied to the sinusoidal features.
func TestTimestepEmbedder(t *testing.T) {
	rng := tensor.NewRNG(3)
	te := NewTimestepEmbedder(cpu, 16, 8, rng)
	ts := []float32{1000, 250.5}
	got := te.Embed(ts)
	want := te.Linear2.Forward(tensor.SiLU(te.Linear1.Forward(SinusoidalEmbedding(cpu, ts, 16))))
	checkEqual(t, "embedder", got.Data(), want.Data())
	if n := names(NamedParams(te)); len(n) != 4 || n[0] != "linear_1.weight" || n[3] != "linear_2.bias" {
		t.Errorf("names %v", n)
	}
}

// Token embedding: out[b, l] = table[id] + pos[l].
func TestTokenEmbedding(t *testing.T) {
	e := NewTokenEmbedding(cpu, 10, 6, 4, tensor.NewRNG(8))
	ids := []int32{3, 0, 9, 9, 1, 2} // batch 2, length 3
	got := e.Forward(ids, 2).Data()
	tab, pos := e.Weight.Data(), e.Pos.Data()
	var want []float64
	for n, id := range ids {
		l := n % 3
		for j := 0; j < 4; j++ {
			want = append(want, float64(tab[int(id)*4+j])+float64(pos[l*4+j]))
		}
	}
	checkClose(t, "token embedding", f64(got), want, 1e-7, 1e-6)
}

// PatchEmbed = Linear(Patchify(x)) + pos, and its parameter names.
func TestPatchEmbed(t *testing.T) {
	rng := tensor.NewRNG(12)
	pe := NewPatchEmbed(cpu, 2, 4, 4, 2, 8, rng)
	x := rng.Normal(cpu, 1, 2, 4, 4)
	got := pe.Forward(x)
	want := tensor.Add(pe.Proj.Forward(Patchify(x, 2)), pe.Pos)
	checkEqual(t, "patch embed", got.Data(), want.Data())
	if n := names(NamedParams(pe)); len(n) != 3 || n[0] != "proj.weight" || n[2] != "pos_embed" {
		t.Errorf("names %v", n)
	}
}

// The 2-D sin-cos table: column code in the first half, row code in the second, against the
// formula evaluated by hand at two grid cells.
func TestSinCos2D(t *testing.T) {
	const gh, gw, dim = 3, 5, 8 // q = 2 frequencies: ω = 1 and 10000^(-1/2) = 0.01
	tab := SinCos2D(gh, gw, dim)
	cell := func(r, c int) []float32 { return tab[(r*gw+c)*dim : (r*gw+c+1)*dim] }
	want := func(r, c float64) []float64 {
		return []float64{math.Sin(c), math.Sin(c * 0.01), math.Cos(c), math.Cos(c * 0.01),
			math.Sin(r), math.Sin(r * 0.01), math.Cos(r), math.Cos(r * 0.01)}
	}
	for _, rc := range [][2]int{{0, 0}, {2, 3}, {1, 4}} {
		got, w := cell(rc[0], rc[1]), want(float64(rc[0]), float64(rc[1]))
		for i := range w {
			if math.Abs(float64(got[i])-w[i]) > 1e-6 {
				t.Fatalf("cell %v element %d: got %g want %g", rc, i, got[i], w[i])
			}
		}
	}
}
