package tensor

import (
	"fmt"
	"slices"
)

// Neural-network primitives, each forwarded to its fused backend kernel pair. Normalisations
// and softmax act on the last axis, viewed as a [rows, cols] matrix.

// rowsCols views x as [rows, cols] over its last axis.
func rowsCols(name string, x *Tensor) (rows, cols int) {
	if x.Dims() == 0 {
		panic(fmt.Sprintf("tensor.%s: needs at least one axis, got a 0-d tensor", name))
	}
	cols = x.Dim(-1)
	if cols == 0 {
		return 0, 0
	}
	return x.Size() / cols, cols
}

// checkVector panics unless v is nil or a vector of length n.
func checkVector(name, what string, v *Tensor, n int, x *Tensor) {
	if v != nil && (v.Dims() != 1 || v.shape[0] != n) {
		panic(fmt.Sprintf("tensor.%s: %s has shape %v, want [%d] for x %v", name, what, v.shape, n, x.shape))
	}
}

// storageOf returns t's storage, or nil for a nil tensor.
func storageOf(t *Tensor) Storage {
	if t == nil {
		return nil
	}
	return t.data
}

// gradBuffer returns a zeroed tensor shaped like t when t needs a gradient, else nil.
func gradBuffer(t *Tensor) *Tensor {
	if t == nil || !t.requiresGrad {
		return nil
	}
	return Zeros(t.Backend(), t.shape...)
}

// Softmax normalises exp(x) over the last axis.
func Softmax(x *Tensor) *Tensor {
	rows, cols := rowsCols("Softmax", x)
	be := x.Backend()
	y := Empty(be, x.shape...)
	be.Softmax(y.data, x.data, rows, cols)
	return record(y, "Softmax", func(g *Tensor) []*Tensor {
		dx := Zeros(be, x.shape...)
		be.SoftmaxBackward(dx.data, y.data, g.data, rows, cols)
		return []*Tensor{dx}
	}, x)
}

// LayerNorm normalises the last axis to zero mean and unit variance, then scales by w and
// shifts by b (each [C] or nil).
func LayerNorm(x, w, b *Tensor, eps float32) *Tensor {
	be := mustSameBackend("LayerNorm", x, w, b)
	rows, cols := rowsCols("LayerNorm", x)
	checkVector("LayerNorm", "weight", w, cols, x)
	checkVector("LayerNorm", "bias", b, cols, x)
	y := Empty(be, x.shape...)
	mean, rstd := allocEmpty(be, rows), allocEmpty(be, rows)
	be.LayerNorm(y.data, mean, rstd, x.data, storageOf(w), storageOf(b), rows, cols, eps)
	return record(y, "LayerNorm", func(g *Tensor) []*Tensor {
		dx := Zeros(be, x.shape...) // always needed by the kernel, even when x is a constant
		dw, db := gradBuffer(w), gradBuffer(b)
		be.LayerNormBackward(dx.data, storageOf(dw), storageOf(db), g.data, x.data, mean, rstd, storageOf(w), rows, cols)
		return []*Tensor{dx, dw, db}
	}, x, w, b)
}

// RMSNorm scales the last axis by 1/√(mean(x²)+eps), then by w ([C] or nil).
func RMSNorm(x, w *Tensor, eps float32) *Tensor {
	be := mustSameBackend("RMSNorm", x, w)
	rows, cols := rowsCols("RMSNorm", x)
	checkVector("RMSNorm", "weight", w, cols, x)
	y := Empty(be, x.shape...)
	rstd := allocEmpty(be, rows)
	be.RMSNorm(y.data, rstd, x.data, storageOf(w), rows, cols, eps)
	return record(y, "RMSNorm", func(g *Tensor) []*Tensor {
		dx := Zeros(be, x.shape...)
		dw := gradBuffer(w)
		be.RMSNormBackward(dx.data, storageOf(dw), g.data, x.data, rstd, storageOf(w), rows, cols)
		return []*Tensor{dx, dw}
	}, x, w)
}

// Attention is softmax(scale·QKᵀ + mask)·V for q [B,H,Lq,Dh], k and v [B,H,Lk,Dh], mask [B,Lk]
// additive key bias or nil. Returns [B,H,Lq,Dh]. The mask is a constant (no gradient). The
// output and the per-row log-sum-exp are kept for the backward pass.
func Attention(q, k, v, mask *Tensor, scale float32) *Tensor {
	be := mustSameBackend("Attention", q, k, v, mask)
	bad := func() {
		ms := "nil"
		if mask != nil {
			ms = fmt.Sprint(mask.shape)
		}
		panic(fmt.Sprintf("tensor.Attention: q %v, k %v, v %v, mask %s (want q [B,H,Lq,Dh], k and v [B,H,Lk,Dh], mask [B,Lk])",
			q.shape, k.shape, v.shape, ms))
	}
	if q.Dims() != 4 || k.Dims() != 4 || !slices.Equal(k.shape, v.shape) ||
		q.shape[0] != k.shape[0] || q.shape[1] != k.shape[1] || q.shape[3] != k.shape[3] {
		bad()
	}
	args := AttnArgs{B: q.shape[0], H: q.shape[1], Lq: q.shape[2], Lk: k.shape[2], Dh: q.shape[3], Scale: scale}
	if mask != nil && !slices.Equal(mask.shape, []int{args.B, args.Lk}) {
		bad()
	}
	out := Empty(be, q.shape...)
	lse := allocEmpty(be, args.B*args.H*args.Lq)
	be.Attention(out.data, lse, q.data, k.data, v.data, storageOf(mask), args)
	return record(out, "Attention", func(g *Tensor) []*Tensor {
		dq, dk, dv := Zeros(be, q.shape...), Zeros(be, k.shape...), Zeros(be, v.shape...)
		be.AttentionBackward(dq.data, dk.data, dv.data, g.data, q.data, k.data, v.data, out.data, lse, storageOf(mask), args)
		return []*Tensor{dq, dk, dv}
	}, q, k, v)
}

// Embedding gathers rows of table [V, D]: result [len(idx), D]. Indices outside [0,V) panic.
// The gradient scatters back (adds) into a table-shaped tensor; repeated indices accumulate.
func Embedding(table *Tensor, idx []int32) *Tensor {
	if table.Dims() != 2 {
		panic(fmt.Sprintf("tensor.Embedding: table has shape %v, want [V, D]", table.shape))
	}
	V, D := table.shape[0], table.shape[1]
	for i, j := range idx {
		if j < 0 || int(j) >= V {
			panic(fmt.Sprintf("tensor.Embedding: index %d at position %d outside [0,%d)", j, i, V))
		}
	}
	idx = append([]int32(nil), idx...) // the caller may reuse its slice before Backward
	be := table.Backend()
	out := Empty(be, len(idx), D)
	be.Gather(out.data, table.data, idx, D)
	return record(out, "Embedding", func(g *Tensor) []*Tensor {
		dt := Zeros(be, V, D)
		be.ScatterAdd(dt.data, g.data, idx, D)
		return []*Tensor{dt}
	}, table)
}
