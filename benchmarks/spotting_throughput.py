"""Spotting throughput: frames per second of ``strain-peaks`` against reading the frames alone, in one run.

Usage::

    python benchmarks/spotting_throughput.py [--seconds 60] [--fps 20] [--repeats 3]
        [--spotter '{"flow": {"name": "dis", "preset": "fast"}}']

One recording of the long demo (seed 0, generated into the cache on first use) is read
(``stream_frames``: decode and the truncation check, what any spotter pays) and spotted
(``spot_video`` with ``strain-peaks``: reading, face and landmarks every ``redetect`` seconds,
alignment, two flows per frame, strain, ROI means, peaks), the two arms interleaved ``--repeats``
times; the median of each is printed as frames/s, with the ratio spotting / reading, the load
average before and after, the machine, the precision and the date. The ratio is the number to
compare across machines: both arms run under the same load.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--fps", type=float, default=20.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--spotter", default="{}", help="strain-peaks arguments, JSON")
    args = parser.parse_args()

    import mertk
    from mertk.data.demo_long import LongDemo
    from mertk.preprocess.frames import stream_frames
    from mertk.preprocess.spot import spot_video

    (video, *_) = LongDemo(videos=1, seconds=args.seconds, fps=args.fps).load().videos
    spotter = mertk.load_components().create("spotter", "strain-peaks", **json.loads(args.spotter))
    spot_video(spotter, video)  # warm-up: imports, models, the page cache
    load_before = os.getloadavg()
    times: dict[str, list[float]] = {"read": [], "spot": []}
    for _ in range(args.repeats):
        start = time.perf_counter()
        frames = sum(1 for _ in stream_frames(video))
        times["read"].append(time.perf_counter() - start)
        start = time.perf_counter()
        spot_video(spotter, video)
        times["spot"].append(time.perf_counter() - start)
    rate = {arm: frames / statistics.median(seconds) for arm, seconds in times.items()}
    print(f"one recording: {frames} frames of {video.frames[0].name} ({args.seconds:g} s at {args.fps:g} fps), "
          f"median of {args.repeats}")
    print(f"  reading alone  {rate['read']:8.1f} frames/s")
    print(f"  spotting       {rate['spot']:8.1f} frames/s  ({rate['spot'] / rate['read']:.3f} x reading)")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores visible, load "
          f"{' '.join(f'{x:.2f}' for x in load_before)} -> {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"precision: float32 (CPU flow); date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")


if __name__ == "__main__":
    main()
