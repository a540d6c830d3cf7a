"""Do the spotters find the long demo's inserted expressions above chance? F1 over seeds.

Usage::

    python benchmarks/spotting_demo.py [--seeds 1 2 3] [--videos 4] [--seconds 75] [--fps 20]
        [--name strain-peaks] [--spotter '{"flow": {"name": "dis", "preset": "fast"}}'] [--draws 50] [--out DIR]
    python benchmarks/spotting_demo.py --name strain-peaks flow-windows --seconds 40

For each seed: the long-video demo of that seed (``long-demo``, generated into the cache on first
use; seed 0 is the one the spotters' defaults were chosen on, so it is not among the default
seeds), every recording spotted with each spotter ``--name`` (its arguments: ``--spotter``, JSON,
given to every one), scored with the MEGC interval metric (IoU >= 0.5), micro, macro and overall.
A spotter that learns (``flow-windows``: it has ``fit``) is trained leave one subject out, as
``mertk spot`` does: each recording is spotted by a spotter fitted on the other recordings (one
subject each), with the spotter's own seed (``--spotter '{"seed": 1}'``) for every data seed.

Chance, per seed: for every recording, as many random intervals as the spotter found, of the same
lengths and types, placed uniformly at random in the recording; its F1 is the mean over ``--draws``
draws. A spotter at chance finds what random placement of its own detections would.

Prints one line per spotter and seed (spotter F1 and chance F1 for micro, macro, overall, with the counts),
then per spotter the mean and standard deviation over seeds and the spotting rate (frames/s, reading
included), with the machine, the precision (float32 on the CPU unless the flow runs on CUDA) and
the date. Results also go to ``OUT/spotting_demo.jsonl`` when ``--out`` is given.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

TYPES = ("micro", "macro", "overall")


def chance(videos, found, draws: int, rng: np.random.Generator) -> dict[str, float]:
    """Mean F1 per type of random intervals like ``found`` (same count, lengths, types) in each recording."""
    from mertk.api import Interval
    from mertk.evaluation.intervals import SpottedVideo, evaluate_spotting

    totals = {t: [] for t in TYPES}
    for _ in range(draws):
        spotted = []
        for video, result in zip(videos, found):
            frames = result.frames
            random = []
            for interval in result.intervals:
                onset = int(rng.integers(0, max(frames - interval.length, 0) + 1))
                random.append(Interval(onset, onset + interval.length - 1, interval.expression))
            spotted.append(SpottedVideo(video.id, video.subject, video.dataset, video.intervals, random))
        overall = evaluate_spotting(spotted)["overall"]
        for t in TYPES:
            totals[t].append(overall[t]["f1"] or 0.0)
    return {t: float(np.mean(v)) for t, v in totals.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=75.0)
    parser.add_argument("--fps", type=float, default=20.0)
    parser.add_argument("--name", nargs="+", default=["strain-peaks"], help="spotters to compare")
    parser.add_argument("--spotter", default="{}", help="the spotters' arguments, JSON")
    parser.add_argument("--draws", type=int, default=50)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    import mertk
    from mertk.data.demo_long import LongDemo
    from mertk.evaluation.intervals import SpottedVideo, evaluate_spotting
    from mertk.preprocess.spot import spot_video
    from mertk.spotting.evaluate import loso_tasks
    from mertk.spotting.task import spotter_fits

    components = mertk.load_components()
    spotter_args = json.loads(args.spotter)
    rows: dict[str, list[dict]] = {name: [] for name in args.name}
    print(f"{', '.join(args.name)} {spotter_args or '(defaults)'} on long-demo: {args.videos} recordings x "
          f"{args.seconds:g} s at {args.fps:g} fps per seed; chance: {args.draws} draws")
    for seed in args.seeds:
        load = LongDemo(seed=seed, videos=args.videos, seconds=args.seconds, fps=args.fps).load()
        for name in args.name:
            fits = spotter_fits(components, name)
            start, found = time.perf_counter(), []
            for task in loso_tasks(load.videos, fits):
                spotter = components.create("spotter", name, **spotter_args)
                if fits:
                    spotter.fit(list(task.train))
                found.append(spot_video(spotter, task.video, name))
            seconds = time.perf_counter() - start
            scored = evaluate_spotting([SpottedVideo(v.id, v.subject, v.dataset, v.intervals, r.intervals)
                                        for v, r in zip(load.videos, found)])["overall"]
            random = chance(load.videos, found, args.draws, np.random.default_rng(seed))
            row = {"seed": seed, "spotter": name, "frames": sum(r.frames for r in found), "seconds": seconds,
                   **{f"f1_{t}": scored[t]["f1"] or 0.0 for t in TYPES},
                   **{f"chance_{t}": random[t] for t in TYPES},
                   **{f"counts_{t}": {k: scored[t][k] for k in ("tp", "fp", "fn")} for t in TYPES}}
            rows[name].append(row)
            print(f"{name} seed {seed}: " + "  ".join(
                f"{t} F1 {row[f'f1_{t}']:.3f} (chance {row[f'chance_{t}']:.3f}; TP {row[f'counts_{t}']['tp']} "
                f"FP {row[f'counts_{t}']['fp']} FN {row[f'counts_{t}']['fn']})" for t in TYPES)
                + f"  {row['frames'] / seconds:.1f} frames/s" + (" (training included)" if fits else ""), flush=True)

    def spread(name: str, key: str) -> str:
        values = [r[key] for r in rows[name]]
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{statistics.mean(values):.3f} +- {sd:.3f}"

    for name in args.name:
        print(f"\n{name} over {len(rows[name])} seeds (mean +- sd):")
        for t in TYPES:
            print(f"  {t:8s} spotter F1 {spread(name, f'f1_{t}')}   chance F1 {spread(name, f'chance_{t}')}")
        frames, seconds = sum(r["frames"] for r in rows[name]), sum(r["seconds"] for r in rows[name])
        print(f"  spotting rate {frames / seconds:.1f} frames/s (reading" +
              (", LOSO training" if spotter_fits(components, name) else "") + " included)")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores visible, load "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; precision: float32 on the CPU; "
          f"date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        with (args.out / "spotting_demo.jsonl").open("a") as handle:
            for row in (r for name in args.name for r in rows[name]):
                handle.write(json.dumps({**row, "arguments": spotter_args, "videos": args.videos,
                                         "seconds_per_video": args.seconds, "fps": args.fps}) + "\n")


if __name__ == "__main__":
    main()
