"""``mertk preprocess CONFIG``: fill the preprocessing cache for a run config, with previews.

Interrupted runs resume: every finished clip is already cached, so a rerun computes the rest.
"""

from __future__ import annotations

from pathlib import Path

import click

from mertk.cli_app import App, pass_app, set_option


@click.command()
@click.argument("config")
@set_option
@click.option("--preview", "preview", type=int, default=0, metavar="N",
              help="Write preview sheets (face + landmarks, flow, strain, views) for N samples.")
@click.option("--preview-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("preview"),
              show_default=True, help="Folder for the preview sheets.")
@click.option("--limit", type=int, default=0, metavar="N", help="Only the first N samples (for a quick look).")
@pass_app
def preprocess(app: App, config: str, overrides: tuple[str, ...], preview: int, preview_dir: Path,
               limit: int) -> None:
    """Preprocess the dataset CONFIG names (faces, landmarks, flow, views) into the cache.

    Every clip is processed; with ``on_error: stop`` the command then exits 1 listing every
    sample that cannot be used (at load time or in preprocessing), with ``skip`` it lists them
    as skipped.
    """
    from mertk.data.problems import stop_on_fatal
    from mertk.execution import open_executor
    from mertk.preprocess.pipeline import prepare
    from mertk.writable import check_writable_dir

    loaded = app.config(config, overrides)
    cfg, file = loaded.config, Path(loaded.file).name
    if preview:
        check_writable_dir(preview_dir, what="the preview sheets", fix="pass --preview-dir a folder you can write")
    dataset = app.components.build("dataset", cfg.dataset, file=file, key="dataset")
    load = dataset.load()
    samples = load.samples[:limit] if limit else load.samples
    try:
        with open_executor(app.components, cfg.executor, file=file) as executor:
            prepared = prepare(samples, cfg.preprocess, app.components, on_error="skip", config_file=file,
                               executor=executor)
    except KeyboardInterrupt as exc:
        from mertk.interrupts import Interrupted

        kept = ("the clips finished so far are cached: run the same command again to continue"
                if cfg.preprocess.cache else "nothing was kept (preprocess.cache is off)")
        raise Interrupted.of(exc, kept) from None
    problems = [*load.problems, *prepared.problems]
    for problem in problems:  # with on_error: stop, the error below lists the fatal ones (once)
        if not (problem.fatal and cfg.on_error == "stop"):
            click.echo(f"{'skipped' if problem.fatal else 'warning'}: {problem}", err=True)
    stop_on_fatal(problems, cfg.on_error, more="`mertk datasets inspect CONFIG` lists them all")
    methods: dict[str, int] = {}
    for record in prepared.records:
        methods[str(record["face_method"])] = methods.get(str(record["face_method"]), 0) + 1
    skipped = sum(p.fatal for p in problems)
    click.echo(f"{len(prepared.sample_ids)} clips prepared, {skipped} skipped; face found by: "
               + ", ".join(f"{k} {v}" for k, v in sorted(methods.items())))
    click.echo("views: " + ", ".join(f"{k} {tuple(v.shape)}" for k, v in prepared.views.items()))
    if preview:
        from mertk.preprocess.preview import write_previews

        paths = write_previews(prepared, preview_dir, preview, cfg.preprocess.encoding.channels)
        click.echo(f"{len(paths)} preview sheets in {preview_dir}")
