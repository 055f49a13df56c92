#!/usr/bin/env python3
"""Times diffusers' SD3Transformer2DModel forward and backward, for the ratio against
flowtune's SD3 model on the same card (tools/sd3_gpu_check.sh runs it after cmd/sd3step).

    python3 tools/sd3_diffusers_bench.py --model DIR --size 512 --batch 4 --text 333

DIR is a diffusers folder (DIR/transformer/config.json, e.g. one cmd/sd3gen wrote). The model
runs in bf16 with gradient checkpointing and, when peft is importable, a rank-32 LoRA on the
same targets as flowtune's (otherwise the backward reaches the inputs only). Needs a CUDA GPU,
torch >= 2.6 and diffusers; not runnable on the CPU-only development machines, where it has not
been run.
"""
import argparse
import time

import torch

TARGETS = ["attn.to_q", "attn.to_k", "attn.to_v", "attn.to_out.0",
           "attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj", "attn.to_add_out"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--text", type=int, default=333)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()

    from diffusers import SD3Transformer2DModel

    dev = torch.device("cuda")
    model = SD3Transformer2DModel.from_pretrained(args.model, subfolder="transformer", torch_dtype=torch.bfloat16).to(dev)
    model.requires_grad_(False)
    try:
        from peft import LoraConfig
        model.add_adapter(LoraConfig(r=32, lora_alpha=64, init_lora_weights="gaussian", target_modules=TARGETS))
        for n, p in model.named_parameters():
            if "lora_" in n:
                p.data = p.data.float()
        lora = True
    except ImportError:
        lora = False
    model.enable_gradient_checkpointing()
    model.train()

    cfg = model.config
    lat = args.size // 8
    x = torch.randn(args.batch, cfg.in_channels, lat, lat, device=dev, dtype=torch.bfloat16)
    ctx = torch.randn(args.batch, args.text, cfg.joint_attention_dim, device=dev, dtype=torch.bfloat16)
    pooled = torch.randn(args.batch, cfg.pooled_projection_dim, device=dev, dtype=torch.bfloat16)
    t = torch.full((args.batch,), 500.0, device=dev)
    if not lora:
        x.requires_grad_(True)

    def fwd():
        return model(hidden_states=x, encoder_hidden_states=ctx, pooled_projections=pooled, timestep=t).sample

    with torch.no_grad():
        fwd()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    f_times, b_times = [], []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        with torch.no_grad():
            fwd()
        torch.cuda.synchronize()
        f_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        loss = fwd().float().pow(2).mean()
        loss.backward()
        torch.cuda.synchronize()
        b_times.append(time.perf_counter() - t0)
        model.zero_grad(set_to_none=True)
    print("diffusers SD3Transformer2DModel (%s, bf16, LoRA %s, gradient checkpointing): batch %d at %d², %d text tokens"
          % (torch.cuda.get_device_name(), "r32" if lora else "off", args.batch, args.size, args.text))
    print("  forward (no grad) %.3f s, forward+backward %.3f s (min of %d); peak allocated %.1f GiB"
          % (min(f_times), min(b_times), args.reps, torch.cuda.max_memory_allocated() / 2**30))


if __name__ == "__main__":
    main()
