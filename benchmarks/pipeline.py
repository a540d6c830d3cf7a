"""Benchmark: whole-pipeline throughput (clips per second) on the demo dataset.

Runs :func:`mertk.preprocess.prepare` with the cache off on the first ``--limit`` demo clips:
one worker, then ``--workers`` workers, for each flow extractor given, and finally a warm-cache
run (everything read back from disk). Ratios are against the one-worker run of the first flow
extractor, measured in the same run.

    python benchmarks/pipeline.py --limit 24 --workers 2 --flows tvl1 torch-tvl1
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import mertk
from mertk.preprocess.pipeline import prepare
from mertk.preprocess.settings import PreprocessSettings

VIEWS = {"face": {"name": "full-face", "size": 28}, "hars": {"name": "hars", "regions": ["eyes", "mouth"], "size": 28}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=24, help="demo clips to process")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--flows", nargs="+", default=["tvl1", "torch-tvl1"])
    parser.add_argument("--demo-root", default=None, help="demo dataset folder (default: the mertk cache)")
    args = parser.parse_args()

    components = mertk.load_components()
    spec = {"name": "demo", **({"root": args.demo_root} if args.demo_root else {})}
    samples = components.build("dataset", spec).load().samples[: args.limit]
    print(f"{len(samples)} demo clips; workers tried: 1 and {args.workers}")
    baseline = None
    for flow in args.flows:
        for workers in sorted({1, args.workers}):
            settings = PreprocessSettings(flow=flow, views=VIEWS, workers=workers, cache=False, device="cpu")
            start = time.perf_counter()
            prepared = prepare(samples, settings, components, progress=False)
            seconds = time.perf_counter() - start
            rate = len(prepared.sample_ids) / seconds
            baseline = baseline or rate
            print(f"flow {flow:<11} workers {workers}: {rate:6.2f} clips/s ({seconds:5.1f} s)  x{rate / baseline:.2f}")
    with tempfile.TemporaryDirectory() as cache:
        settings = PreprocessSettings(flow=args.flows[0], views=VIEWS, workers=args.workers, cache_dir=cache)
        prepare(samples, settings, components, progress=False)
        start = time.perf_counter()
        prepare(samples, settings, components, progress=False)
        seconds = time.perf_counter() - start
        rate = len(samples) / seconds
        print(f"warm cache: {rate:6.2f} clips/s ({seconds:5.2f} s)  x{rate / baseline:.2f}")


if __name__ == "__main__":
    main()
