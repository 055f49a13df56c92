#!/usr/bin/env python3
"""Encodes prompts into a flowtune prompt-embedding cache (see diffusion/prompts).

    python3 tools/encode_prompts.py --model <SD3 model dir or hub id> --prompts train.txt --out cache.safetensors
    python3 tools/encode_prompts.py --model <dir> --out cache.safetensors --update --prompt "a red cube"

It runs diffusers' StableDiffusion3Pipeline.encode_prompt with the three text encoders only
(transformer=None, vae=None) and writes, per prompt, `<hash>.prompt_embeds` [77+T, 4096] and
`<hash>.pooled` [2048], plus the empty prompt (CFG's negative). <hash> is the first 16 hex
digits of SHA-256 of the prompt's UTF-8 bytes; the metadata maps hashes back to prompts.
--update keeps the prompts already in --out. Prompt files: .txt (one prompt per line, blank
lines skipped) or .jsonl (one JSON object per line with a "prompt" string, Flow-GRPO's GenEval
metadata). Needs torch, transformers, diffusers and the model's text encoders; the file itself
is written with numpy only.
"""
import argparse
import hashlib
import json
import os
import struct
import sys

import numpy as np

FORMAT = "flowtune-prompt-embeddings/1"


def key(prompt):
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:16]


def read_prompts(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n").rstrip("\r")
            if path.endswith(".jsonl"):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    sys.exit("%s:%d: not a JSON object: %s" % (path, n, e))
                if not isinstance(obj, dict) or not isinstance(obj.get("prompt"), str):
                    sys.exit('%s:%d: want a JSON object with a "prompt" string' % (path, n))
                out.append(obj["prompt"])
            elif line.strip():
                out.append(line.strip())
    return out


def to_bf16(a):
    """float32 -> bfloat16 bits (uint16), rounding to nearest even."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u.astype(np.uint16)


def from_bf16(b):
    return (b.astype(np.uint32) << 16).view(np.float32)


def read_cache(path):
    """Returns ({prompt: (embeds, pooled)} as float32 arrays, metadata)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    if meta.get("format") != FORMAT:
        sys.exit("%s: not a flowtune prompt cache (format %r)" % (path, meta.get("format")))
    prompts = json.loads(meta["prompts"])

    def tensor(name):
        h = header[name]
        a, b = h["data_offsets"]
        raw = np.frombuffer(data[a:b], dtype=np.uint16 if h["dtype"] == "BF16" else np.float32)
        return (from_bf16(raw) if h["dtype"] == "BF16" else raw.copy()).reshape(h["shape"])

    return {p: (tensor(k + ".prompt_embeds"), tensor(k + ".pooled")) for k, p in prompts.items()}, meta


def write_cache(path, entries, model="", bf16=True):
    """Writes {prompt: (embeds [L, D], pooled [P])} atomically as a flowtune prompt cache."""
    header, blobs, off, index = {}, [], 0, {}
    shapes = None
    for prompt in sorted(entries):
        emb, pooled = (np.asarray(x, dtype=np.float32) for x in entries[prompt])
        if shapes is None:
            shapes = (emb.shape, pooled.shape)
        if (emb.shape, pooled.shape) != shapes or emb.ndim != 2 or pooled.ndim != 1:
            sys.exit("prompt %r: embeddings %s / %s, others %s / %s" % (prompt, emb.shape, pooled.shape, *shapes))
        k = key(prompt)
        if k in index:
            sys.exit("prompts %r and %r share the hash %s" % (index[k], prompt, k))
        index[k] = prompt
        for name, a in ((k + ".prompt_embeds", emb), (k + ".pooled", pooled)):
            raw = to_bf16(a).tobytes() if bf16 else a.tobytes()
            header[name] = {"dtype": "BF16" if bf16 else "F32", "shape": list(a.shape),
                            "data_offsets": [off, off + len(raw)]}
            blobs.append(raw)
            off += len(raw)
    meta = {"format": FORMAT, "prompts": json.dumps(index, ensure_ascii=False, sort_keys=True)}
    if model:
        meta["model"] = model
    header["__metadata__"] = meta
    h = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp%d" % os.getpid()
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def encode(model, prompts, device, batch, max_len):
    import torch
    from diffusers import StableDiffusion3Pipeline

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.bfloat16 if device != "cpu" else torch.float32
    pipe = StableDiffusion3Pipeline.from_pretrained(model, transformer=None, vae=None, torch_dtype=dtype).to(device)
    out = {}
    with torch.no_grad():
        for i in range(0, len(prompts), batch):
            chunk = prompts[i:i + batch]
            emb, _, pooled, _ = pipe.encode_prompt(prompt=chunk, prompt_2=None, prompt_3=None, device=device,
                                                   do_classifier_free_guidance=False, max_sequence_length=max_len)
            for p, e, q in zip(chunk, emb.float().cpu().numpy(), pooled.float().cpu().numpy()):
                out[p] = (e, q)
            print("encoded %d/%d" % (min(i + batch, len(prompts)), len(prompts)), file=sys.stderr)
    return out


def main():
    ap = argparse.ArgumentParser(description="Encode prompts into a flowtune prompt-embedding cache.")
    ap.add_argument("--model", required=True, help="SD3 / SD3.5 diffusers folder or hub id (text encoders and tokenizers)")
    ap.add_argument("--prompts", action="append", default=[], help="prompt file (.txt or .jsonl); repeatable")
    ap.add_argument("--prompt", action="append", default=[], help="one prompt; repeatable")
    ap.add_argument("--out", required=True, help="cache file to write")
    ap.add_argument("--update", action="store_true", help="keep the prompts already in --out, encode only new ones")
    ap.add_argument("--fp32", action="store_true", help="store float32 instead of bfloat16")
    ap.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--max-sequence-length", type=int, default=256, help="T5 tokens (SD3 default 256: 333 context tokens)")
    args = ap.parse_args()

    prompts = [""] + list(args.prompt)
    for path in args.prompts:
        prompts += read_prompts(path)
    entries = {}
    if args.update and os.path.exists(args.out):
        entries, _ = read_cache(args.out)
    todo = sorted({p for p in prompts if p not in entries})
    if todo:
        entries.update(encode(args.model, todo, args.device, args.batch, args.max_sequence_length))
    write_cache(args.out, entries, model=args.model, bf16=not args.fp32)
    print("wrote %s: %d prompts (%d new)" % (args.out, len(entries), len(todo)))


if __name__ == "__main__":
    main()
