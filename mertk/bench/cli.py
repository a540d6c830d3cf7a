"""The ``mertk bench`` command."""

from __future__ import annotations

from pathlib import Path

import click

from mertk.cli_app import App, pass_app, set_option


@click.command()
@click.argument("configs", nargs=-1, required=True)
@click.option("--seeds", type=click.IntRange(min=1), default=1, show_default=True,
              help="Runs per config, with seeds SEED, SEED+1, ... (SEED from the config).")
@click.option("--dir", "bench_dir", type=click.Path(file_okay=False, path_type=Path),
              help="The bench folder (default: OUTPUT.DIR/bench of the first config). Rerunning with the "
                   "same folder keeps finished runs and resumes unfinished ones.")
@set_option
@pass_app
def bench(app: App, configs: tuple[str, ...], seeds: int, bench_dir: Path | None,
          overrides: tuple[str, ...]) -> None:
    """Compare CONFIGS (files or bundled names) on the same data and protocol.

    Writes BENCH_DIR/bench.md, bench.csv (UF1/UAR/accuracy overall and per source dataset, or
    for action-unit configs the mean AU F1; mean +- std over seeds, parameters, FLOPs, training
    seconds per fold) and bench.png.

    Example: mertk bench dual-atme.yaml ststnet.yaml --seeds 3 --set train.epochs=20
    """
    from mertk.bench import collect, plan_runs, run_all, write_outputs
    from mertk.writable import check_writable_dir

    given = bench_dir is not None
    bench_dir, runs = plan_runs(configs, seeds, bench_dir, overrides, app.config)
    check_writable_dir(bench_dir, what="the bench's runs and tables",
                       fix="pass --dir a folder you can write" if given else
                       "pass --dir a folder you can write, or set output.dir (--set output.dir=PATH)")
    try:
        counts = run_all(runs, app.components, echo=lambda line: click.echo(line, err=True))
    except KeyboardInterrupt as exc:
        from mertk.interrupts import Interrupted

        raise Interrupted.of(exc, f"the finished folds are kept in {bench_dir}: run the same `mertk bench` "
                             "command again to resume (each run's run.log says how to resume it alone)") from None
    click.echo(f"runs: {counts['reused']} reused, {counts['resumed']} resumed, {counts['started']} new", err=True)
    rows = collect(runs, app.components)
    paths = write_outputs(rows, bench_dir)
    click.echo(paths["markdown"].read_text(encoding="utf-8"))
    click.echo(f"wrote {paths['markdown']}, {paths['csv']}, {paths['chart']}", err=True)
