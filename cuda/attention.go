//go:build cuda

package cuda

import (
	"fmt"

	"github.com/flowtune/flowtune/tensor"
)

// Flash-style attention (kernels.cu §6): attTile-query × attTile-key tiles (geometry.go), fp32, the head dimension
// padded up to 16, 32, 64 or 128 (the kernel variant).

// headDim returns the padded head dimension of the kernel variant for Dh.
func headDim(op string, dh int) int {
	for _, d := range []int{16, 32, 64, 128} {
		if dh <= d {
			return d
		}
	}
	panic(fmt.Sprintf("cuda: %s: head dimension %d; the CUDA attention kernels take at most 128", op, dh))
}

func (b *Backend) checkAttn(op string, a tensor.AttnArgs, q, k, v, out, lse *buffer) {
	nq, nkv := a.B*a.H*a.Lq*a.Dh, a.B*a.H*a.Lk*a.Dh
	if q.n != nq || out.n != nq || k.n != nkv || v.n != nkv || lse.n != a.B*a.H*a.Lq {
		panic(fmt.Sprintf("cuda: %s %+v: storages q %d k %d v %d out %d lse %d", op, a, q.n, k.n, v.n, out.n, lse.n))
	}
	if a.B*a.H > 65535 {
		panic(fmt.Sprintf("cuda: %s: B·H = %d exceeds 65535", op, a.B*a.H))
	}
}

func (b *Backend) Attention(out, lse, q, k, v, mask tensor.Storage, a tensor.AttnArgs) {
	defer b.exit(b.enter("Attention"))
	os, ls := b.f32(out, "Attention"), b.f32(lse, "Attention")
	qs, ks, vs, bf := b.attnInputs("Attention", a, q, k, v)
	b.checkAttn("Attention", a, qs, ks, vs, os, ls)
	if a.B*a.H*a.Lq == 0 {
		return
	}
	if bf || b.useBF16Attention(a) {
		b.attentionBF16(os, ls, qs, ks, vs, mask, a)
		return
	}
	d := headDim("Attention", a.Dh)
	b.launch(fmt.Sprintf("attn_fwd_d%d", d), dim3{(a.Lq + attTile - 1) / attTile, a.B * a.H, 1}, dim3{attThreads, 1, 1}, attnFwdSmem(d),
		ptr(os), ptr(ls), ptr(qs), ptr(ks), ptr(vs), b.opt32(mask, "Attention"),
		i32(a.H), i32(a.Lq), i32(a.Lk), i32(a.Dh), f32(a.Scale))
}

// attnInputs unwraps q, k, v: all Float32, or all BFloat16 (bf = true), which only the
// tensor-core kernels take (head dimensions 64 and 128).
func (b *Backend) attnInputs(op string, a tensor.AttnArgs, q, k, v tensor.Storage) (qs, ks, vs *buffer, bf bool) {
	qs, ks, vs = b.buf(q, op), b.buf(k, op), b.buf(v, op)
	if qs.dt == tensor.BFloat16 && ks.dt == tensor.BFloat16 && vs.dt == tensor.BFloat16 {
		if a.Dh != 64 && a.Dh != 128 {
			panic(fmt.Sprintf("cuda: %s: bfloat16 q, k, v need head dimension 64 or 128 (got %d); pass float32 storages", op, a.Dh))
		}
		return qs, ks, vs, true
	}
	return b.f32(q, op), b.f32(k, op), b.f32(v, op), false
}

// useBF16Attention reports whether attention runs on the tensor cores (attn_bf16_*): with
// Options.Attention = BF16 for head dimensions 64 and 128.
func (b *Backend) useBF16Attention(a tensor.AttnArgs) bool {
	return b.opt.Attention == BF16 && (a.Dh == 64 || a.Dh == 128)
}

// toBF16Temps rounds fp32 storages to bf16 temporaries on the device; bf16 storages pass as
// they are. releaseTemps gives the temporaries back.
func (b *Backend) toBF16Temps(ss ...*buffer) []*buffer {
	out := make([]*buffer, len(ss))
	for i, s := range ss {
		if s.dt == tensor.BFloat16 {
			out[i] = s
			continue
		}
		out[i] = b.tmp(max(1, s.n), tensor.BFloat16)
		if s.n > 0 {
			b.launch("convert_f32_bf16", grid1(s.n, threads), dim3{threads, 1, 1}, 0, ptr(out[i]), ptr(s), i32(s.n))
		}
	}
	return out
}

func (b *Backend) releaseTemps(orig, temps []*buffer) {
	for i, t := range temps {
		if t != orig[i] {
			b.release(t)
		}
	}
}

// attentionBF16 is the tensor-core forward: q, k, v rounded to bf16 on the device, then
// attn_bf16_fwd_d<Dh>.
func (b *Backend) attentionBF16(os, ls, qs, ks, vs *buffer, mask tensor.Storage, a tensor.AttnArgs) {
	in := []*buffer{qs, ks, vs}
	c := b.toBF16Temps(in...)
	b.launch(fmt.Sprintf("attn_bf16_fwd_d%d", a.Dh), dim3{(a.Lq + attbTile - 1) / attbTile, a.B * a.H, 1},
		dim3{attbThreads, 1, 1}, attnBF16Smem(a.Dh), ptr(os), ptr(ls), ptr(c[0]), ptr(c[1]), ptr(c[2]),
		b.opt32(mask, "Attention"), i32(a.H), i32(a.Lq), i32(a.Lk), f32(a.Scale))
	b.releaseTemps(in, c)
}

func (b *Backend) AttentionBackward(dq, dk, dv, dout, q, k, v, out, lse, mask tensor.Storage, a tensor.AttnArgs) {
	defer b.exit(b.enter("AttentionBackward"))
	const op = "AttentionBackward"
	gq, gk, gv, gout := b.f32(dq, op), b.f32(dk, op), b.f32(dv, op), b.f32(dout, op)
	os, ls := b.f32(out, op), b.f32(lse, op)
	qs, ks, vs, bf := b.attnInputs(op, a, q, k, v)
	b.checkAttn(op, a, qs, ks, vs, os, ls)
	sameLen(op, qs, gq, gout)
	sameLen(op, ks, gk, gv)
	bh := a.B * a.H
	if bh == 0 {
		return
	}
	d := headDim(op, a.Dh)
	m := b.opt32(mask, op)
	delta := b.tmp(max(1, bh*a.Lq), tensor.Float32)
	if a.Lq > 0 {
		b.launch("attn_bwd_delta", rowsGrid(bh*a.Lq), dim3{rowWarps * 32, 1, 1}, 0, ptr(delta), ptr(gout), ptr(os), i32(bh*a.Lq), i32(a.Dh))
	}
	if bf || b.useBF16Attention(a) {
		in := []*buffer{qs, ks, vs, gout}
		c := b.toBF16Temps(in...)
		if a.Lk > 0 {
			b.launch(fmt.Sprintf("attn_bf16_bwd_dkdv_d%d", a.Dh), dim3{(a.Lk + attbTile - 1) / attbTile, bh, 1},
				dim3{attbThreads, 1, 1}, attnBF16BwdSmem(a.Dh), ptr(gk), ptr(gv), ptr(c[3]), ptr(c[0]), ptr(c[1]), ptr(c[2]),
				ptr(ls), ptr(delta), m, i32(a.H), i32(a.Lq), i32(a.Lk), f32(a.Scale))
		}
		if a.Lq > 0 {
			b.launch(fmt.Sprintf("attn_bf16_bwd_dq_d%d", a.Dh), dim3{(a.Lq + attbTile - 1) / attbTile, bh, 1},
				dim3{attbThreads, 1, 1}, attnBF16BwdSmem(a.Dh), ptr(gq), ptr(c[3]), ptr(c[0]), ptr(c[1]), ptr(c[2]),
				ptr(ls), ptr(delta), m, i32(a.H), i32(a.Lq), i32(a.Lk), f32(a.Scale))
		}
		b.releaseTemps(in, c)
		b.release(delta)
		return
	}
	if a.Lk > 0 {
		b.launch(fmt.Sprintf("attn_bwd_dkdv_d%d", d), dim3{(a.Lk + attTile - 1) / attTile, bh, 1}, dim3{attThreads, 1, 1}, attnDkdvSmem(d),
			ptr(gk), ptr(gv), ptr(gout), ptr(qs), ptr(ks), ptr(vs), ptr(ls), ptr(delta), m,
			i32(a.H), i32(a.Lq), i32(a.Lk), i32(a.Dh), f32(a.Scale))
	}
	if a.Lq > 0 {
		b.launch(fmt.Sprintf("attn_bwd_dq_d%d", d), dim3{(a.Lq + attTile - 1) / attTile, bh, 1}, dim3{attThreads, 1, 1}, attnDqSmem(d),
			ptr(gq), ptr(gout), ptr(qs), ptr(ks), ptr(vs), ptr(ls), ptr(delta), m,
			i32(a.H), i32(a.Lq), i32(a.Lk), i32(a.Dh), f32(a.Scale))
	}
	b.release(delta)
}
