"""``mertk datasets``: listing adapters and inspecting a tree with planted defects."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from mertk.cli import build_cli

# A throwaway plugin, so the run config validates whatever models and losses are installed.
PLUGIN = '''
import mertk


def toy_model(num_classes: int, in_channels: int):
    """A model name for config validation only; never built here."""


def toy_loss():
    """A loss name for config validation only; never built here."""


@mertk.hookimpl
def register_models(register):
    register("inspect-test-model", toy_model)


@mertk.hookimpl
def register_losses(register):
    register("inspect-test-loss", toy_loss)
'''


def invoke(args: list[str]):
    return CliRunner().invoke(build_cli(args), args, catch_exceptions=False)


@pytest.fixture
def planted(tmp_path: Path, fake) -> tuple[Path, Path]:
    """A CASME II tree with one defect per row from row 3 on, and a run config pointing to it."""
    clips = [
        (1, "EP01_01", 10, 15, 20, "happiness"),    # row 2: fine
        (1, "EP02_01", 10, "/", 20, "surprise"),    # row 3: apex missing
        (2, "EP03_01", 10, 15, 20, "disgust"),      # row 4: clip folder absent
        (2, "EP04_01", 10, 15, 20, "repression"),   # row 5: apex frame file missing
        (3, "EP05_01", 10, 15, 20, "happiness"),    # row 6: onset frame unreadable (empty file)
        (3, "EP06_01", 30, 35, 40, "surprise"),     # row 7: onset outside the clip's frames
        (3, "EP07_01", 10, 15, 20, "others"),       # row 8: outside megc3, not a problem
    ]
    sheet = fake.casme2_tree(tmp_path, clips, frames=lambda on, apex, off: range(10, 21))
    raw = tmp_path / "CASME2_RAW_selected"
    shutil.rmtree(raw / "sub02" / "EP03_01")
    (raw / "sub02" / "EP04_01" / "img15.jpg").unlink()
    (raw / "sub03" / "EP05_01" / "img10.jpg").write_bytes(b"")
    (tmp_path / "plugin.py").write_text(PLUGIN)
    config = tmp_path / "run.yaml"
    config.write_text(f"dataset: {{name: casme2, root: {tmp_path}}}\nmodel: inspect-test-model\n"
                      "loss: [inspect-test-loss]\n")
    return config, sheet


def test_inspect_lists_every_planted_defect(planted) -> None:
    config, sheet = planted
    plugin = str(config.parent / "plugin.py")
    result = invoke(["--plugin", plugin, "datasets", "inspect", str(config)])
    assert result.exit_code == 1, result.output  # unusable samples: a script must not go on to a run
    out = result.output
    assert "dataset casme2: 3 usable samples, 2 subjects, 3 classes" in out
    lines = out.splitlines()

    def line_for(row: int) -> str:
        return "\n".join(x for x in lines if f"{sheet}, row {row} " in x)

    assert "warning" in line_for(3) and "apex is missing" in line_for(3)
    assert "FATAL" in line_for(4) and "does not exist" in line_for(4)
    assert "warning" in line_for(5) and "apex frame 15 is missing" in line_for(5) and "nearest" in line_for(5)
    assert "FATAL" not in line_for(5) and "FATAL" not in line_for(3)
    assert "FATAL" in line_for(6) and "empty file" in line_for(6)
    assert "FATAL" in line_for(7) and "outside the clip" in line_for(7)
    assert not [x for x in lines if "row 8 " in x or "row 2 " in x]
    assert "problems: 3 fatal (sample unusable), 3 warnings" in out
    assert "1  emotion 'others' is outside class protocol megc3" in out
    assert "casme2/sub01" in out and "a run would stop on these" in out
    skip = invoke(["--plugin", plugin, "datasets", "inspect", str(config), "--set", "on_error=skip",
                   "--set", "dataset.classes=5class"])
    assert skip.exit_code == 1 and "4 usable samples" in skip.output and "skip these samples" in skip.output


def test_inspect_exits_1_on_a_bad_config(planted) -> None:
    config, _ = planted
    plugin = str(config.parent / "plugin.py")
    result = invoke(["--plugin", plugin, "datasets", "inspect", str(config), "--set", "dataset.clases=megc3"])
    assert result.exit_code == 1 and "dataset.clases" in result.output and "did you mean 'classes'" in result.output


def test_datasets_lists_adapters() -> None:
    for args in (["datasets"], ["datasets", "list"]):
        result = invoke(args)
        assert result.exit_code == 0
        names = [line.split()[0] for line in result.output.splitlines()]
        assert {"casme2", "samm", "smic", "casme3", "megc2019-cd", "manifest", "fold-lists", "demo"} <= set(names)


def _truncate(path: Path) -> None:
    """Cut a JPEG off mid-stream, as a failed copy leaves it (OpenCV still decodes it)."""
    import cv2
    import numpy as np

    ramp = np.add.outer(np.arange(64), np.arange(64)).astype(np.uint8) * 2
    cv2.imwrite(str(path), ramp)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _inspect_config(tmp_path: Path, dataset: str) -> Path:
    (tmp_path / "plugin.py").write_text(PLUGIN)
    config = tmp_path / "run.yaml"
    config.write_text(f"dataset: {dataset}\nmodel: inspect-test-model\nloss: [inspect-test-loss]\n")
    return config


def test_inspect_decodes_the_frames_each_sample_uses(tmp_path: Path, fake) -> None:
    """A truncated SAMM apex JPEG: fatal and not counted as usable, in the samm and the
    megc2019-cd configs; a damaged frame no stage reads is found with --deep only (a warning)."""
    root = tmp_path / "SAMM"
    fake.write_frames(root / "011" / "011_2_1", (f"011_{n}.jpg" for n in range(2029, 2061)))
    fake.write_frames(root / "011" / "011_2_2", (f"011_{n}.jpg" for n in range(2069, 2120)))
    rows = [("011", "011_2_1", 1, 2029, 2050, 2060, 32, "Micro - 1/2", "AU4", "Anger", "III", ""),
            ("011", "011_2_2", 1, 2069, 2114, 2119, 51, "Micro - 1/2", "AU4", "Anger", "III", "")]
    fake.write_xlsx(tmp_path / "SAMM_Micro_FACS_Codes_v2.xlsx", fake.SAMM_HEADER, rows, preamble=13)
    _truncate(root / "011" / "011_2_1" / "011_2050.jpg")
    _truncate(root / "011" / "011_2_2" / "011_2100.jpg")  # neither onset, apex nor offset
    config = _inspect_config(tmp_path, f"{{name: samm, root: {root}}}")
    plugin = ["--plugin", str(tmp_path / "plugin.py")]
    out = invoke([*plugin, "datasets", "inspect", str(config)]).output
    assert "dataset samm: 1 usable samples" in out and "problems: 1 fatal (sample unusable), 0 warnings" in out
    assert "FATAL    " + str(root / "011" / "011_2_1" / "011_2050.jpg [samm/011/011_2_1]: ") in out
    deep = invoke([*plugin, "datasets", "inspect", str(config), "--deep"]).output
    assert "1 usable samples" in deep and "problems: 1 fatal (sample unusable), 1 warnings" in deep
    assert "011_2100.jpg [samm/011/011_2_2]" in deep

    megc = tmp_path / "megc"
    roots = fake.megc_fake_trees(megc)
    _truncate(megc / "samm" / "SAMM" / "011" / "011_2_1" / "011_2050.jpg")
    config = _inspect_config(tmp_path, "{name: megc2019-cd, " + ", ".join(f"{k}: {v}" for k, v in roots.items())
                             + "}")
    out = invoke([*plugin, "datasets", "inspect", str(config)]).output
    assert "dataset megc2019-cd: 441 usable samples" in out and "problems: 1 fatal" in out
    assert "011_2050.jpg [samm/011/011_2_1]: " in out


def test_inspect_warns_when_no_sample_is_left(tmp_path: Path) -> None:
    manifest = tmp_path / "samples.csv"
    manifest.write_text("sample,subject,dataset,label,frames,onset,apex\n")
    config = _inspect_config(tmp_path, f"{{name: manifest, path: {manifest}}}")
    result = invoke(["--plugin", str(tmp_path / "plugin.py"), "datasets", "inspect", str(config)])
    out = result.output
    assert "dataset manifest: 0 usable samples" in out
    assert "the manifest lists no samples" in out and "no usable samples: a run would stop" in out
    assert result.exit_code == 1  # no fatal problem, but nothing to run on


def test_inspect_exits_0_when_every_sample_is_usable(tmp_path: Path, flow_manifest: Path) -> None:
    config = _inspect_config(tmp_path, f"{{name: manifest, path: {flow_manifest}}}")
    result = invoke(["--plugin", str(tmp_path / "plugin.py"), "datasets", "inspect", str(config)])
    assert result.exit_code == 0, result.output
    assert "24 usable samples" in result.output and "problems: 0 fatal" in result.output


def test_inspect_a_spotting_config_lists_recordings_intervals_and_problems(tmp_path: Path, fake) -> None:
    fake.write_frames(tmp_path / "rec1", (f"img{n}.jpg" for n in range(1, 31)))
    fake.write_frames(tmp_path / "rec2", (f"img{n}.jpg" for n in range(1, 21)))
    fake.write_frames(tmp_path / "rec3", (f"img{n}.jpg" for n in range(1, 21)))
    (tmp_path / "rec3" / "img6.jpg").write_bytes(b"")  # an annotated onset that cannot be decoded
    (tmp_path / "rec1.csv").write_text("onset,offset,type\n2,6,micro\n10,25,macro\n")
    (tmp_path / "rec2.csv").write_text("onset,offset,type\n3,7,micro\n")
    (tmp_path / "rec3.csv").write_text("onset,offset,type\n5,9,micro\n")
    (tmp_path / "videos.csv").write_text("video,subject,dataset,fps,intervals\nrec1,p1,lab,30,rec1.csv\n"
                                         "rec2,p2,lab,30,rec2.csv\nrec3,p2,lab,30,rec3.csv\nmissing,p3,lab,30,\n")
    config = tmp_path / "spot.yaml"
    config.write_text(f"dataset: {{name: long-manifest, path: {tmp_path / 'videos.csv'}}}\nspotter: strain-peaks\n")
    result = invoke(["datasets", "inspect", str(config)])
    assert result.exit_code == 1, result.output  # two recordings are unusable
    out = result.output
    assert "video dataset long-manifest: 2 usable recordings, 2 subjects, 50 frames in frame folders, 2 micro- and " \
           "1 macro-expressions annotated" in out
    assert "lab/p1/rec1" in out and "lab/p2/rec2" in out
    assert "problems: 2 fatal (recording left out), 0 warnings" in out
    assert "neither a frame folder nor a video file" in out
    assert str(tmp_path / "rec3" / "img6.jpg") in out and "[lab/p2/rec3]" in out
    assert "Traceback" not in out
    (tmp_path / "videos.csv").write_text("video,subject,dataset,fps,intervals\nrec1,p1,lab,30,rec1.csv\n")
    fine = invoke(["datasets", "inspect", str(config), "--deep"])
    assert fine.exit_code == 0, fine.output
    assert "1 usable recordings, 1 subjects, 30 frames" in fine.output and "problems: 0 fatal" in fine.output
