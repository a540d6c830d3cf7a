"""Benchmark: mertk's torch TV-L1 (``torch-tvl1``) against OpenCV's Dual TV-L1 (``tvl1``).

Both extractors run with their mertk defaults on the same synthetic pairs (a real face warped by
a known smooth displacement, :mod:`mertk.preprocess.synthetic`). Printed per image size: ms per
pair (OpenCV one pair at a time; torch batched), the ratio torch / OpenCV measured in this run,
and the mean end-point error (EPE) of each against the true flow. With CUDA, the GPU batch
throughput is measured too.

    python benchmarks/flow.py                 # 1 thread for both (default)
    python benchmarks/flow.py --threads 2 --batch 16 --sizes 128 224
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np
import torch

from mertk.preprocess.flow import TVL1
from mertk.preprocess.synthetic import end_point_error, warped_pair
from mertk.preprocess.tvl1 import TorchTVL1


def pairs(size: int, count: int) -> tuple[torch.Tensor, torch.Tensor, list[np.ndarray]]:
    made = [warped_pair(size, amplitude=1.0 + 0.25 * (i % 5), phase=0.7 * i) for i in range(count)]
    first = torch.stack([torch.from_numpy(m[0])[None] for m in made])
    second = torch.stack([torch.from_numpy(m[1])[None] for m in made])
    return first, second, [m[2] for m in made]


def timed(fn, *args, repeat: int = 3) -> tuple[float, torch.Tensor]:
    """Best wall time of ``repeat`` calls (after one warm-up) and the last result."""
    out = fn(*args)
    best = float("inf")
    for _ in range(repeat):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = fn(*args)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best, out


def epe(flows: torch.Tensor, truths: list[np.ndarray]) -> float:
    return float(np.mean([end_point_error(f, t) for f, t in zip(flows.cpu(), truths)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 224])
    parser.add_argument("--batch", type=int, default=8, help="pairs per torch call (and pairs measured)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for torch and OpenCV")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cuda-batch", type=int, default=64)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    opencv, ours = TVL1(), TorchTVL1(threads=args.threads)
    print(f"threads {args.threads}, torch batch {args.batch}, best of {args.repeat}")
    print(f"{'size':>5} {'opencv ms/pair':>15} {'torch ms/pair':>14} {'torch/opencv':>13} "
          f"{'EPE opencv':>11} {'EPE torch':>10} {'EPE diff':>9}")
    for size in args.sizes:
        first, second, truths = pairs(size, args.batch)
        t_cv, f_cv = timed(opencv, first, second, repeat=args.repeat)
        t_th, f_th = timed(ours, first, second, repeat=args.repeat)
        ms_cv, ms_th = 1000 * t_cv / args.batch, 1000 * t_th / args.batch
        e_cv, e_th = epe(f_cv, truths), epe(f_th, truths)
        print(f"{size:>5} {ms_cv:>15.1f} {ms_th:>14.1f} {ms_th / ms_cv:>13.2f} {e_cv:>11.4f} {e_th:>10.4f} "
              f"{e_th - e_cv:>+9.4f}")
    if torch.cuda.is_available():
        print(f"CUDA ({torch.cuda.get_device_name()}), batch {args.cuda_batch}:")
        for size in args.sizes:
            first, second, truths = pairs(size, args.cuda_batch)
            t_gpu, f_gpu = timed(ours, first.cuda(), second.cuda(), repeat=args.repeat)
            t_cv, _ = timed(opencv, first[: args.batch], second[: args.batch], repeat=1)
            per_cv = t_cv / args.batch
            print(f"{size:>5} {args.cuda_batch / t_gpu:>10.1f} pairs/s on GPU, EPE {epe(f_gpu, truths):.4f}; "
                  f"{1 / per_cv:.1f} pairs/s OpenCV ({args.threads} CPU threads): "
                   f"x{per_cv * args.cuda_batch / t_gpu:.1f}")
    else:
        print("CUDA: not available, GPU throughput not measured")


if __name__ == "__main__":
    main()
