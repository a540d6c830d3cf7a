"""``mertk analyze VIDEO --model RUN/model``: a short generated recording spotted, each interval classified by
a small model trained here (a few steps on random views: the command's plumbing is tested, not accuracy),
written as CSV and JSON with a timeline; unreadable videos, folders without a frame rate and recordings
without a face are one clear error each."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import mertk
from mertk.cli import build_cli

VIEWS = {"face": {"name": "full-face", "size": 28}, "hars": {"name": "hars", "regions": ["eyes", "mouth"], "size": 28}}
CLASSES = ["negative", "positive", "surprise"]
SPOTTER = '{name: strain-peaks, flow: {name: dis, preset: ultrafast}, size: 64, redetect: 10}'


def invoke(args: list[str]):
    return CliRunner().invoke(build_cli(args), args)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    """A DualATME trained for a few steps on random views, exported like `mertk run` does."""
    from mertk.artifact import save_artifact
    from mertk.config import validate_config
    from mertk.engine.trainer import build_model

    components = mertk.load_components(autoload=False)
    config = validate_config({"dataset": {"name": "demo"}, "model": {"name": "dual-atme", "hidden": 16},
                              "preprocess": {"views": VIEWS}}, components)
    torch.manual_seed(0)
    inputs = {name: torch.rand(8, 3, 28, 28) for name in VIEWS}
    labels = torch.arange(8) % len(CLASSES)
    net = build_model(config.model, components, num_classes=len(CLASSES), in_channels=3, sample=inputs)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    net.train()
    for _ in range(3):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(inputs).logits, labels).backward()
        optimizer.step()
    net.eval()
    folder = tmp_path_factory.mktemp("analyze-model") / "model"
    return save_artifact(folder, net, config, CLASSES, {name: (3, 28, 28) for name in VIEWS})


@pytest.fixture(scope="module")
def frames(tmp_path_factory) -> Path:
    """A 10 s recording at 10 fps of a demo face with inserted expressions, as a folder of frames."""
    from mertk.data.demo_long import LongDemo, generate_long_demo

    folder = tmp_path_factory.mktemp("analyze-demo")
    generate_long_demo(folder, seed=2, videos=1, seconds=10, fps=10)
    (video,) = LongDemo(root=str(folder), seed=2, videos=1, seconds=10, fps=10).load().videos
    return video.frames[0].parent


@pytest.fixture(scope="module")
def analysed(model, frames, tmp_path_factory):
    out = tmp_path_factory.mktemp("analyze-out") / "intervals.csv"
    result = invoke(["analyze", str(frames), "--model", str(model), "--fps", "10", "--spotter", SPOTTER, "-o", str(out)])
    assert result.exit_code == 0, result.output + result.stderr
    return out, result


def test_csv_lists_intervals_with_classes_and_a_timeline(analysed):
    out, result = analysed
    rows = list(csv.DictReader(out.open()))
    assert rows, "the generated recording has expressions to find"
    assert list(rows[0])[:10] == ["interval", "onset", "apex", "offset", "onset_s", "offset_s", "type", "score", "class",
                                  "probability"]
    for row in rows:
        assert row["type"] in ("micro", "macro") and int(row["onset"]) <= int(row["offset"]) < 100
        assert float(row["onset_s"]) == pytest.approx(int(row["onset"]) / 10)
        assert row["class"] in CLASSES
        probabilities = [float(row[f"p_{c}"]) for c in CLASSES]
        assert sum(probabilities) == pytest.approx(1, abs=1e-3)
        assert float(row["probability"]) == pytest.approx(max(probabilities), abs=1e-4)
    assert out.with_suffix(".png").stat().st_size > 1000
    assert f"{len(rows)} intervals -> {out}" in result.stderr
    assert "spotting" in result.stderr  # the progress bar


def test_json_output_matches_the_csv(analysed, model, frames, tmp_path):
    out, _ = analysed
    result = invoke(["analyze", str(frames), "--model", str(model), "--fps", "10", "--spotter", SPOTTER,
                     "-o", str(tmp_path / "intervals.json"), "--timeline", str(tmp_path / "t.png")])
    assert result.exit_code == 0, result.stderr
    data = json.loads((tmp_path / "intervals.json").read_text())
    assert data["fps"] == 10 and data["frames"] == 100
    rows = list(csv.DictReader(out.open()))
    assert [(i["onset"], i["offset"], i["class"]) for i in data["intervals"]] == \
        [(int(r["onset"]), int(r["offset"]), r["class"]) for r in rows]
    assert (tmp_path / "t.png").is_file()


def test_unreadable_video_and_missing_frame_rate(model, frames, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_text("not a video")
    result = invoke(["analyze", str(broken), "--model", str(model)])
    assert result.exit_code == 1 and "cannot read this video" in result.stderr and "Traceback" not in result.stderr
    result = invoke(["analyze", str(frames), "--model", str(model)])
    assert result.exit_code == 1 and "--fps" in result.stderr
    result = invoke(["analyze", str(tmp_path / "nothing.mp4"), "--model", str(model)])
    assert result.exit_code == 1 and "no such file" in result.stderr


def test_a_recording_without_a_face(model, tmp_path):
    import cv2

    blank = tmp_path / "blank"
    blank.mkdir()
    for k in range(12):
        cv2.imwrite(str(blank / f"img{k + 1}.jpg"), np.full((96, 96), 128, np.uint8))
    result = invoke(["analyze", str(blank), "--model", str(model), "--fps", "10", "--spotter", SPOTTER])
    assert result.exit_code == 1 and "no face found" in result.stderr and "Traceback" not in result.stderr


def test_a_video_file_gives_its_own_frame_rate(model, frames, tmp_path):
    import cv2

    files = sorted(frames.iterdir(), key=lambda p: int("".join(c for c in p.stem if c.isdigit())))
    first = cv2.imread(str(files[0]))
    video = tmp_path / "recording.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (first.shape[1], first.shape[0]))
    for file in files:
        writer.write(cv2.imread(str(file)))
    writer.release()
    result = invoke(["analyze", str(video), "--model", str(model), "--spotter", SPOTTER])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["fps"] == 10 and data["frames"] == len(files)
    assert data["intervals"] and all(i["class"] in CLASSES for i in data["intervals"])


def test_an_unknown_spotter_is_named(model, frames):
    result = invoke(["analyze", str(frames), "--model", str(model), "--fps", "10", "--spotter", "strain-peeks"])
    assert result.exit_code == 1 and "strain-peaks" in result.stderr and "Traceback" not in result.stderr
