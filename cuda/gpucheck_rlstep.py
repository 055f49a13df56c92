#!/usr/bin/env python3
"""Per-phase seconds of the toy RL step, before and after the launch-overhead savings: the
median over the steps after the first (which warms the memory pool) of each phase's wall time,
from two runs' metrics.jsonl (FLOWTUNE_CUDA_LEGACY=1 and the default), and the speedup.

Usage: python3 cuda/gpucheck_rlstep.py legacy/metrics.jsonl fast/metrics.jsonl
Needs only the standard library (it runs on the GPU machine)."""
import json
import statistics
import sys

PHASES = ["rollout", "reward", "advantage", "train", "step"]


def medians(path):
    steps = []
    with open(path) as f:
        for line in f:
            rec = json.loads(line)
            if rec.get("kind") == "train":
                steps.append(rec["time"])
    if len(steps) > 1:
        steps = steps[1:]
    return {p: statistics.median(s.get(p, 0.0) for s in steps) for p in PHASES}, len(steps)


def main():
    before, n0 = medians(sys.argv[1])
    after, n1 = medians(sys.argv[2])
    print(f"toy RL step, median seconds over {n0} / {n1} steps (the first left out):")
    print(f"{'phase':<10} {'before':>9} {'after':>9} {'speedup':>8}")
    for p in PHASES:
        b, a = before[p], after[p]
        ratio = f"{b / a:7.2f}x" if a > 0 else "      -"
        print(f"{p:<10} {b:9.4f} {a:9.4f} {ratio}")


if __name__ == "__main__":
    main()
