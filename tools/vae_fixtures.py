#!/usr/bin/env python3
"""Writes the SD3 VAE decoder parity fixtures of diffusion/vae/testdata.

    python3 tools/vae_fixtures.py --ref /path/to/sd3.5 [--out diffusion/vae/testdata]

--ref is a checkout of Stability AI's sd3.5 reference repository; its sd3_impls.py VAEDecoder
computes the golden output (it is imported from there, never copied). Needs torch and numpy
only: the reference's other imports (einops, safetensors, PIL, tqdm, mmditx, dit_embedder) are
stood in for below, with the one einops pattern the VAE uses written out.

The decoder is a small random configuration with SD3's structure: 16 latent channels, two
levels (16 and 32 channels, so one ResNet block changes width and uses its 1x1 shortcut), one
nearest-neighbour upsampling, the mid-block attention, random GroupNorm affines. The reference
hard-codes 32 GroupNorm groups; so that the channels stay small, its Normalize is replaced by
the same GroupNorm with 8 groups (eps 1e-6, affine), which the Go test passes as NormGroups.

Weights are rounded to bfloat16 (and values below fp16's normal range zeroed) so that the
same numbers are stored exactly in both layouts: Stability's single file (keys under
first_stage_model., fp16) and a diffusers vae/ folder (config.json + bf16 safetensors with
diffusers' names). The reference then runs in float64; vae_io.safetensors holds the latent
(the transformer's space) and the decoded image, both fp32.
"""
import argparse
import json
import os
import struct
import sys
import types

import numpy as np
import torch

GROUPS = 8


def stub_modules():
    """Stands in for the reference's imports that the VAE does not need (and einops)."""

    def rearrange(x, pattern, **kw):
        if pattern == "b c h w -> b 1 (h w) c":
            b, c, h, w = x.shape
            return x.reshape(b, c, h * w).transpose(1, 2).reshape(b, 1, h * w, c)
        if pattern == "b 1 (h w) c -> b c h w":
            b, _, n, c = x.shape
            return x.reshape(b, n, c).transpose(1, 2).reshape(b, c, kw["h"], kw["w"])
        raise NotImplementedError(pattern)

    mods = {
        "einops": {"rearrange": rearrange, "repeat": None},
        "safetensors": {"safe_open": None},
        "PIL": {"Image": None},
        "tqdm": {"tqdm": lambda x, *a, **k: x},
        "dit_embedder": {"ControlNetEmbedder": object},
        "mmditx": {"MMDiTX": object},
    }
    for name, attrs in mods.items():
        m = types.ModuleType(name)
        for k, v in attrs.items():
            setattr(m, k, v)
        sys.modules.setdefault(name, m)
    F = torch.nn.functional
    if not hasattr(F, "scaled_dot_product_attention"):  # torch < 2.0
        def sdpa(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False):
            s = q @ k.transpose(-2, -1) / (q.shape[-1] ** 0.5)
            return torch.softmax(s, dim=-1) @ v
        F.scaled_dot_product_attention = sdpa


def to_diffusers(key, levels):
    """Stability decoder key -> diffusers AutoencoderKL key (and whether it is a Linear)."""
    parts = key.split(".")
    assert parts[0] == "decoder"
    rest = parts[1:]
    if rest[0] in ("conv_in", "conv_out"):
        return key, False
    if rest[0] == "norm_out":
        return "decoder.conv_norm_out." + rest[1], False
    if rest[0] == "mid":
        if rest[1].startswith("block_"):
            i = int(rest[1][-1]) - 1
            sub = rest[2].replace("nin_shortcut", "conv_shortcut")
            return "decoder.mid_block.resnets.%d.%s.%s" % (i, sub, rest[3]), False
        name = {"norm": "group_norm", "q": "to_q", "k": "to_k", "v": "to_v", "proj_out": "to_out.0"}[rest[2]]
        return "decoder.mid_block.attentions.0.%s.%s" % (name, rest[3]), rest[2] != "norm"
    if rest[0] == "up":
        k = levels - 1 - int(rest[1])
        if rest[2] == "upsample":
            return "decoder.up_blocks.%d.upsamplers.0.conv.%s" % (k, rest[4]), False
        sub = rest[4].replace("nin_shortcut", "conv_shortcut")
        return "decoder.up_blocks.%d.resnets.%s.%s.%s" % (k, rest[3], sub, rest[5]), False
    raise KeyError(key)


DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}


def write_safetensors(path, tensors, metadata=None):
    """A minimal safetensors writer (the format: 8-byte header length, JSON header, data)."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        raw = t.view(torch.int16).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(path + ".tmp", path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ref", required=True, help="directory holding Stability's sd3_impls.py")
    ap.add_argument("--out", default="diffusion/vae/testdata")
    args = ap.parse_args()

    stub_modules()
    sys.path.insert(0, os.path.abspath(args.ref))
    import sd3_impls as ref

    ref.Normalize = lambda ch, num_groups=32, dtype=torch.float32, device=None: torch.nn.GroupNorm(
        GROUPS, ch, eps=1e-6, affine=True, dtype=dtype, device=device)

    torch.manual_seed(0)
    ch, ch_mult, res_blocks, z = 16, (1, 2), 1, 16
    dec = ref.VAEDecoder(ch=ch, out_ch=3, ch_mult=ch_mult, num_res_blocks=res_blocks, z_channels=z)
    sd = {}
    for name, p in dec.state_dict().items():
        if "norm" in name:  # random affines, so that every weight matters
            p = (1 + 0.3 * torch.randn_like(p)) if name.endswith("weight") else 0.2 * torch.randn_like(p)
        p = p.to(torch.bfloat16).to(torch.float32)
        p[p.abs() < 2.0 ** -14] = 0  # exactly representable in fp16 as well
        sd[name] = p
    dec.load_state_dict(sd)
    dec = dec.double().eval()

    fmt = ref.SD3LatentFormat()
    latent = torch.randn(2, z, 6, 8)
    with torch.no_grad():
        image = dec(fmt.process_out(latent.double())).float()

    os.makedirs(args.out, exist_ok=True)
    single = {"first_stage_model.decoder." + k: v.to(torch.float16) for k, v in sd.items()}
    single["model.diffusion_model.pos_embed"] = torch.zeros(1, 4, 8)  # a non-VAE key, skipped
    write_safetensors(os.path.join(args.out, "vae_single.safetensors"), single)

    levels = len(ch_mult)
    diff = {}
    for k, v in sd.items():
        dk, linear = to_diffusers("decoder." + k, levels)
        diff[dk] = (v.reshape(v.shape[0], v.shape[1]) if linear and v.dim() == 4 else v).to(torch.bfloat16)
    diff["encoder.conv_in.bias"] = torch.zeros(ch).to(torch.bfloat16)  # encoder keys are skipped
    ddir = os.path.join(args.out, "vae_diffusers")
    os.makedirs(ddir, exist_ok=True)
    write_safetensors(os.path.join(ddir, "diffusion_pytorch_model.safetensors"), diff)
    cfg = {
        "_class_name": "AutoencoderKL", "in_channels": 3, "out_channels": 3,
        "block_out_channels": [ch * m for m in ch_mult], "layers_per_block": res_blocks,
        "latent_channels": z, "norm_num_groups": GROUPS, "scaling_factor": fmt.scale_factor,
        "shift_factor": fmt.shift_factor, "use_quant_conv": False, "use_post_quant_conv": False,
        "down_block_types": ["DownEncoderBlock2D"] * levels, "up_block_types": ["UpDecoderBlock2D"] * levels,
    }
    with open(os.path.join(ddir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    write_safetensors(os.path.join(args.out, "vae_io.safetensors"), {"latent": latent, "image": image},
                      {"generator": "tools/vae_fixtures.py", "reference": "sd3_impls.VAEDecoder (float64)"})
    print("wrote", args.out, "params", sum(v.numel() for v in sd.values()), "image", tuple(image.shape),
          "range", float(image.min()), float(image.max()))


if __name__ == "__main__":
    main()
