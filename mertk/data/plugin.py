"""Registers the dataset adapters of `mertk.data` and the ``mertk datasets`` command."""

from __future__ import annotations

from mertk.hookspecs import hookimpl

#: Dataset adapters: name -> lazy factory reference.
DATASETS = {
    "casme2": "mertk.data.casme2:Casme2",
    "samm": "mertk.data.samm:Samm",
    "smic": "mertk.data.smic:Smic",
    "casme3": "mertk.data.casme3:Casme3",
    "casme": "mertk.data.casme:Casme",
    "mmew": "mertk.data.mmew:Mmew",
    "megc2019-cd": "mertk.data.composite:Megc2019Composite",
    "manifest": "mertk.data.manifest:Manifest",
    "fold-lists": "mertk.data.fold_lists:FoldLists",
    "demo": "mertk.data.demo:Demo",
}


@hookimpl
def register_datasets(register) -> None:
    for name, target in DATASETS.items():
        register(name, target)


@hookimpl
def register_commands(cli) -> None:
    from mertk.data.cli import datasets

    cli.add_command(datasets)


#: Long-video dataset adapters (kind ``video_dataset``): name -> lazy factory reference.
VIDEO_DATASETS = {
    "casme-squared": "mertk.data.casme_squared:CasmeSquared",
    "samm-lv": "mertk.data.samm_lv:SammLongVideos",
    "long-manifest": "mertk.data.long_manifest:LongVideoManifest",
    "long-demo": "mertk.data.demo_long:LongDemo",
}


@hookimpl
def register_video_datasets(register) -> None:
    for name, target in VIDEO_DATASETS.items():
        register(name, target)
