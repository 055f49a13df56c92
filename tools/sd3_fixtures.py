#!/usr/bin/env python3
"""Golden fixtures for flowtune's SD3 transformer (diffusion/sd3), computed by Stability AI's
reference implementation.

    python3 tools/sd3_fixtures.py --ref /path/to/sd3.5 --out diffusion/sd3/testdata

--ref is a checkout of https://github.com/Stability-AI/sd3.5 (mmditx.py and other_impls.py are
imported from it; nothing of it is copied here). Needs only torch (>= 1.12) and numpy: einops,
the transformers tokenizers that other_impls.py imports, and (on torch < 2.0)
F.scaled_dot_product_attention are replaced by small stand-ins below.

The model is the reference's MMDiTX class with SD3.5-Medium's structure (dual attention in
block 0, q/k RMSNorm, a pre-only last block, a cropped position table) at a tiny width. The
reference fixes the width to 64 x depth; after construction its modules are rebuilt at width
32 (2 heads of 16) with the reference's own classes, and its forward runs unchanged. It runs in
float64; results are stored as float32.

Written (all float32 safetensors, < 1 MB in all):
  stability.safetensors            weights, Stability single-file keys (model.diffusion_model.*)
  diffusers/transformer/           config.json + two shards + diffusion_pytorch_model.safetensors.index.json
                                   (diffusers' key names, split q/k/v, (scale, shift) AdaLN-continuous)
  lora/pytorch_lora_weights.safetensors   a rank-4, alpha-8 adapter in the PEFT/diffusers layout
  io.safetensors                   inputs x, timesteps, context, pooled; outputs out, out_lora
"""
import argparse
import json
import math
import os
import struct
import sys
import types

import numpy as np
import torch

WIDTH, HEADS, DEPTH, DUAL = 32, 2, 3, [0]
CTX_DIM, POOLED_DIM, POS_MAX, CHANNELS, PATCH = 24, 16, 8, 16, 2
LORA_R, LORA_ALPHA = 4, 8.0
TARGETS = ["attn.to_q", "attn.to_k", "attn.to_v", "attn.to_out.0",
           "attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj", "attn.to_add_out"]


# ---- stand-ins for what the reference imports but this script does not need -------------------

def install_standins():
    ein = types.ModuleType("einops")

    def rearrange(t, pattern, **dims):
        if pattern == "1 (h w) c -> 1 h w c":
            return t.reshape(1, dims["h"], dims["w"], t.shape[-1])
        if pattern == "1 h w c -> 1 (h w) c":
            return t.reshape(1, t.shape[1] * t.shape[2], t.shape[3])
        raise NotImplementedError("einops stand-in: pattern " + pattern)

    def repeat(t, pattern, **dims):
        if pattern == "1 ... -> b ...":
            return t.expand(dims["b"], *t.shape[1:])
        raise NotImplementedError("einops stand-in: pattern " + pattern)

    ein.rearrange, ein.repeat = rearrange, repeat
    sys.modules["einops"] = ein

    tr = types.ModuleType("transformers")

    class Unused:
        def __init__(self, *a, **k):
            raise RuntimeError("tokenizers are not used by the fixture script")

    tr.CLIPTokenizer = tr.T5TokenizerFast = Unused
    sys.modules["transformers"] = tr

    F = torch.nn.functional
    if not hasattr(F, "scaled_dot_product_attention"):
        def sdpa(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False):
            assert attn_mask is None and dropout_p == 0.0 and not is_causal
            w = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
            return w @ v
        F.scaled_dot_product_attention = sdpa


# ---- a minimal safetensors writer (the safetensors package is not needed) ----------------------

def write_safetensors(path, tensors, metadata=None):
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name].detach().cpu().numpy().astype("<f4"))
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


# ---- the model -------------------------------------------------------------------------------

def build(mmditx):
    nn = torch.nn
    m = mmditx.MMDiTX(
        input_size=None, patch_size=PATCH, in_channels=CHANNELS, depth=DEPTH, out_channels=CHANNELS,
        adm_in_channels=POOLED_DIM,
        context_embedder_config={"target": "torch.nn.Linear",
                                 "params": {"in_features": CTX_DIM, "out_features": 64 * DEPTH}},
        pos_embed_max_size=POS_MAX, num_patches=POS_MAX * POS_MAX, qk_norm="rms",
        x_block_self_attn_layers=DUAL, qkv_bias=True)
    # Rebuild at the tiny width with the reference's classes.
    m.x_embedder = mmditx.PatchEmbed(None, PATCH, CHANNELS, WIDTH, bias=True, strict_img_size=False)
    m.t_embedder = mmditx.TimestepEmbedder(WIDTH)
    m.y_embedder = mmditx.VectorEmbedder(POOLED_DIM, WIDTH)
    m.context_embedder = nn.Linear(CTX_DIM, WIDTH)
    m.pos_embed = torch.zeros(1, POS_MAX * POS_MAX, WIDTH)
    m.joint_blocks = nn.ModuleList([
        mmditx.JointBlock(WIDTH, HEADS, mlp_ratio=4.0, qkv_bias=True, pre_only=(i == DEPTH - 1),
                          rmsnorm=False, scale_mod_only=False, swiglu=False, qk_norm="rms",
                          x_block_self_attn=(i in DUAL))
        for i in range(DEPTH)])
    m.final_layer = mmditx.FinalLayer(WIDTH, PATCH, CHANNELS)
    m.num_heads = HEADS

    g = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if p.dim() == 1 and ("ln_q" in name or "ln_k" in name):
                p.copy_(0.5 + torch.rand(p.shape, generator=g))  # RMSNorm scales around 1
            elif p.dim() == 1:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(fan_in))
        table = mmditx.get_2d_sincos_pos_embed(WIDTH, POS_MAX)
        m.pos_embed.copy_(torch.from_numpy(table).float().unsqueeze(0))
    return m.double().eval()


# ---- layouts ---------------------------------------------------------------------------------

def to_diffusers(sd):
    """Stability keys -> diffusers keys, written from the layout rules: q/k/v split, the
    AdaLN-continuous layers stored (scale, shift)."""
    out = {}

    def swap(t):
        a, b = t.chunk(2, dim=0)
        return torch.cat([b, a], dim=0)

    out["pos_embed.pos_embed"] = sd["pos_embed"]
    for s in ("weight", "bias"):
        out["pos_embed.proj." + s] = sd["x_embedder.proj." + s]
        out["time_text_embed.timestep_embedder.linear_1." + s] = sd["t_embedder.mlp.0." + s]
        out["time_text_embed.timestep_embedder.linear_2." + s] = sd["t_embedder.mlp.2." + s]
        out["time_text_embed.text_embedder.linear_1." + s] = sd["y_embedder.mlp.0." + s]
        out["time_text_embed.text_embedder.linear_2." + s] = sd["y_embedder.mlp.2." + s]
        out["context_embedder." + s] = sd["context_embedder." + s]
        out["proj_out." + s] = sd["final_layer.linear." + s]
        out["norm_out.linear." + s] = swap(sd["final_layer.adaLN_modulation.1." + s])
    for i in range(DEPTH):
        j, t = "joint_blocks.%d." % i, "transformer_blocks.%d." % i
        last = i == DEPTH - 1
        for s in ("weight", "bias"):
            for src, names in (("x_block.attn", ("attn.to_q", "attn.to_k", "attn.to_v")),
                               ("context_block.attn", ("attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj")),
                               ("x_block.attn2", ("attn2.to_q", "attn2.to_k", "attn2.to_v"))):
                key = j + src + ".qkv." + s
                if key in sd:
                    for n, part in zip(names, sd[key].chunk(3, dim=0)):
                        out[t + n + "." + s] = part
            out[t + "attn.to_out.0." + s] = sd[j + "x_block.attn.proj." + s]
            if j + "x_block.attn2.proj." + s in sd:
                out[t + "attn2.to_out.0." + s] = sd[j + "x_block.attn2.proj." + s]
            out[t + "norm1.linear." + s] = sd[j + "x_block.adaLN_modulation.1." + s]
            ctx_mod = sd[j + "context_block.adaLN_modulation.1." + s]
            out[t + "norm1_context.linear." + s] = swap(ctx_mod) if last else ctx_mod
            out[t + "ff.net.0.proj." + s] = sd[j + "x_block.mlp.fc1." + s]
            out[t + "ff.net.2." + s] = sd[j + "x_block.mlp.fc2." + s]
            if not last:
                out[t + "attn.to_add_out." + s] = sd[j + "context_block.attn.proj." + s]
                out[t + "ff_context.net.0.proj." + s] = sd[j + "context_block.mlp.fc1." + s]
                out[t + "ff_context.net.2." + s] = sd[j + "context_block.mlp.fc2." + s]
        for src, dst in (("x_block.attn.ln_", "attn.norm_"), ("context_block.attn.ln_", "attn.norm_added_"),
                         ("x_block.attn2.ln_", "attn2.norm_")):
            for qk in ("q", "k"):
                if j + src + qk + ".weight" in sd:
                    out[t + dst + qk + ".weight"] = sd[j + src + qk + ".weight"]
    assert len(out) == len(sd) + sum(4 for k in sd if k.endswith("qkv.weight")), "a key was lost"
    return out


def diffusers_config():
    return {"_class_name": "SD3Transformer2DModel", "sample_size": 4 * PATCH, "patch_size": PATCH,
            "in_channels": CHANNELS, "out_channels": CHANNELS, "num_layers": DEPTH,
            "attention_head_dim": WIDTH // HEADS, "num_attention_heads": HEADS,
            "joint_attention_dim": CTX_DIM, "caption_projection_dim": WIDTH,
            "pooled_projection_dim": POOLED_DIM, "pos_embed_max_size": POS_MAX,
            "dual_attention_layers": DUAL, "qk_norm": "rms_norm"}


# Where each diffusers LoRA target lives in the Stability layout: (module, third of a fused qkv).
def stability_target(i, target):
    j = "joint_blocks.%d." % i
    table = {"attn.to_q": ("x_block.attn.qkv", 0), "attn.to_k": ("x_block.attn.qkv", 1),
             "attn.to_v": ("x_block.attn.qkv", 2), "attn.to_out.0": ("x_block.attn.proj", None),
             "attn.add_q_proj": ("context_block.attn.qkv", 0), "attn.add_k_proj": ("context_block.attn.qkv", 1),
             "attn.add_v_proj": ("context_block.attn.qkv", 2), "attn.to_add_out": ("context_block.attn.proj", None)}
    mod, part = table[target]
    return j + mod + ".weight", part


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ref", required=True, help="checkout of Stability-AI/sd3.5 (holds mmditx.py)")
    ap.add_argument("--out", required=True, help="output folder (diffusion/sd3/testdata)")
    args = ap.parse_args()
    install_standins()
    sys.path.insert(0, os.path.abspath(args.ref))
    import mmditx

    torch.manual_seed(0)
    m = build(mmditx)
    g = torch.Generator().manual_seed(99)
    B, H, W, L = 2, 6, 8, 5  # a 3x4 token grid, cropped from the 8x8 table at (2, 2)
    x = torch.randn(B, CHANNELS, H, W, generator=g).double()
    timesteps = torch.tensor([300.0, 850.0]).double()  # 1000 * sigma
    context = torch.randn(B, L, CTX_DIM, generator=g).double()
    pooled = torch.randn(B, POOLED_DIM, generator=g).double()
    with torch.no_grad():
        out = m(x, timesteps, y=pooled, context=context)

    sd = {k: v.clone() for k, v in m.state_dict().items()}
    write_safetensors(os.path.join(args.out, "stability.safetensors"),
                      {"model.diffusion_model." + k: v for k, v in sd.items()})

    dsd = to_diffusers(sd)
    tdir = os.path.join(args.out, "diffusers", "transformer")
    names = sorted(dsd)
    shards = [names[: len(names) // 2], names[len(names) // 2:]]
    weight_map = {}
    for n, keys in enumerate(shards):
        fname = "diffusion_pytorch_model-%05d-of-%05d.safetensors" % (n + 1, len(shards))
        write_safetensors(os.path.join(tdir, fname), {k: dsd[k] for k in keys}, {"format": "pt"})
        weight_map.update({k: fname for k in keys})
    with open(os.path.join(tdir, "diffusion_pytorch_model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": 4 * sum(v.numel() for v in dsd.values())}, "weight_map": weight_map}, f, indent=1, sort_keys=True)
    with open(os.path.join(tdir, "config.json"), "w") as f:
        json.dump(diffusers_config(), f, indent=2, sort_keys=True)

    # A LoRA adapter on the default targets, merged into a copy of the weights for the reference.
    scale = LORA_ALPHA / LORA_R
    lora, merged = {}, {k: v.clone() for k, v in sd.items()}
    for i in range(DEPTH):
        for target in TARGETS:
            if target == "attn.to_add_out" and i == DEPTH - 1:
                continue
            key, part = stability_target(i, target)
            w = merged[key]
            rows = w.shape[0] // 3 if part is not None else w.shape[0]
            A = 0.3 * torch.randn(LORA_R, w.shape[1], generator=g).double()
            Bm = 0.3 * torch.randn(rows, LORA_R, generator=g).double()
            lo = 0 if part is None else part * rows
            w[lo: lo + rows] += scale * (Bm @ A)
            name = "transformer.transformer_blocks.%d.%s" % (i, target)
            lora[name + ".lora_A.weight"], lora[name + ".lora_B.weight"] = A, Bm
    m.load_state_dict(merged)
    with torch.no_grad():
        out_lora = m(x, timesteps, y=pooled, context=context)
    targets = sorted({k.split(".lora_")[0][len("transformer."):] for k in lora})
    meta = {"transformer.r": LORA_R, "transformer.lora_alpha": LORA_ALPHA, "transformer.target_modules": targets,
            "transformer.init_lora_weights": "gaussian", "transformer.lora_dropout": 0.0, "transformer.bias": "none",
            "transformer.use_dora": False, "transformer.rank_pattern": {}, "transformer.alpha_pattern": {}}
    write_safetensors(os.path.join(args.out, "lora", "pytorch_lora_weights.safetensors"), lora,
                      {"format": "pt", "lora_adapter_metadata": json.dumps(meta, sort_keys=True)})

    write_safetensors(os.path.join(args.out, "io.safetensors"),
                      {"x": x, "timesteps": timesteps, "context": context, "pooled": pooled,
                       "out": out, "out_lora": out_lora})
    print("out: mean |v| %.4f, LoRA changed it by %.4f (rms)" % (
        out.abs().mean().item(), (out_lora - out).pow(2).mean().sqrt().item()))


if __name__ == "__main__":
    main()
