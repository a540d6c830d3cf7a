"""Manifest and fold-list datasets: precomputed flow images and frame folders prepared elsewhere."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

import mertk
from mertk.errors import MertkError


def build(name: str, **args):
    components = mertk.load_components()
    return components.build("dataset", {"name": name, **args})


def write_flow(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.random.default_rng(0).integers(0, 255, (28, 28, 3), dtype=np.uint8))


@pytest.fixture
def flow_manifest(tmp_path: Path) -> Path:
    lines = ["sample,subject,dataset,label,flow"]
    for d, dataset in enumerate(("casme2", "samm")):
        for s in range(3):
            for k, label in enumerate(("negative", "positive", "surprise")):
                name = f"clip{s}{k}"
                write_flow(tmp_path / "flows" / dataset / f"{s}_{name}.png")
                lines.append(f"{name},{s:02d},{dataset},{label if d else k},flows/{dataset}/{s}_{name}.png")
    (tmp_path / "manifest.csv").write_text("\n".join(lines) + "\n")
    return tmp_path / "manifest.csv"


def test_flow_manifest_loads_and_splits_with_loso(flow_manifest: Path) -> None:
    dataset = build("manifest", path=str(flow_manifest), flow_channels=["v", "u", "strain"])
    load = dataset.load()
    assert load.problems == [] and len(load.samples) == 18
    assert {s.subject for s in load.samples} == {f"{d}/{s:02d}" for d in ("casme2", "samm") for s in range(3)}
    first = load.samples[0]
    assert first.flow_image.is_file() and first.frames == () and first.meta["flow_channels"] == ["v", "u", "strain"]
    assert Counter(s.label for s in load.samples) == {0: 6, 1: 6, 2: 6}
    loso = mertk.load_components().create("protocol", "loso")
    folds = loso.split(load.samples)
    assert len(folds) == 6 and [f.name for f in folds] == sorted(f.name for f in folds)
    assert sorted(i for f in folds for i in f.test) == list(range(18))


def test_manifest_frames_rows_and_problems(tmp_path: Path, fake) -> None:
    fake.write_frames(tmp_path / "frames" / "a", [f"img{n}.jpg" for n in range(40, 61)])
    write_flow(tmp_path / "face.png")
    (tmp_path / "m.csv").write_text(
        "Sample,Subject,Dataset,Label,Frames,Onset,Apex,Offset,Flow,Face\n"
        "a,sub01,mine,2,frames/a,img46,img59,60,,face.png\n"
        "b,sub01,mine,sadness,,,,,missing.png,\n"    # row 3: unknown label
        "c,sub02,mine,1,,,,,missing.png,\n"          # row 4: flow file absent
        "d,sub02,mine,1,,,,,,\n"                     # row 5: nothing to read
        "a,sub01,mine,2,frames/a,46,,,,\n"           # row 6: listed twice
    )
    load = build("manifest", path=str(tmp_path / "m.csv")).load()
    (sample,) = load.samples
    assert sample.id == "mine/sub01/a" and sample.label == 2 and sample.face_image == tmp_path / "face.png"
    assert (sample.onset, sample.apex, sample.offset) == (6, 19, 20)
    fatal_rows = sorted(p.row for p in load.problems if p.fatal)
    assert fatal_rows == [3, 4, 5, 6]
    with pytest.raises(MertkError, match="flow_channels"):
        build("manifest", path=str(tmp_path / "m.csv"), flow_channels=["u", "u", "strain"])
    with pytest.raises(mertk.ConfigError, match="flow_channels"):
        build("manifest", path=str(tmp_path / "m.csv"), flow_channels=["u", "v", "depth"])


def test_fold_lists_reproduce_their_folds(tmp_path: Path) -> None:
    lists = tmp_path / "lists"
    lists.mkdir()
    for fold, rows in {"sub02": [("casme2", 0), ("casme2", 1)], "sub01": [("samm", 2), ("smic", 0), ("smic", 1)]}.items():
        lines = []
        for i, (db, label) in enumerate(rows):
            write_flow(tmp_path / "flows" / f"{fold}_{i}.png")
            lines.append(f"../flows/{fold}_{i}.png {label} {db}")
        (lists / f"{fold}.txt").write_text("\n".join(lines) + "\n")
    (lists / "sub03.txt").write_text("../flows/sub01_0.png 2 samm\n../flows/gone.png 1 samm\nbroken line\n"
                                     "../flows/sub02_0.png 7 casme2\n")
    load = build("fold-lists", files=str(lists / "*.txt")).load()
    assert len(load.samples) == 5
    assert [(p.row, p.fatal) for p in load.problems] == [(1, True), (2, True), (3, True), (4, True)]
    assert all(p.file.endswith("sub03.txt") for p in load.problems)
    folds = mertk.load_components().create("protocol", "loso").split(load.samples)
    assert [f.name for f in folds] == ["folds/sub01", "folds/sub02"]
    assert sorted(load.samples[i].dataset for i in folds[0].test) == ["samm", "smic", "smic"]
    assert load.samples[0].flow_image is not None and load.samples[0].meta["flow_channels"] == ["u", "v", "strain"]
    faces = build("fold-lists", files=[str(lists / "sub01.txt")], image="face",
                  class_names=["negative", "positive", "surprise"]).load()
    assert all(s.face_image is not None and s.flow_image is None for s in faces.samples)
    with pytest.raises(MertkError, match="no fold list file"):
        build("fold-lists", files=str(tmp_path / "none*.txt")).load()


def test_manifest_errors_name_its_path_argument(tmp_path: Path) -> None:
    """The manifest adapter's file is its 'path' argument (it has no 'annotation' argument)."""
    with pytest.raises(MertkError, match=r"annotation file not found\. Fix: set the dataset's 'path' argument"):
        build("manifest", path=str(tmp_path / "missing.csv")).load()
    (tmp_path / "odd.csv").write_text("name,label\nx,1\n")
    with pytest.raises(MertkError, match=r"no header row .* Fix: point the dataset's 'path' argument"):
        build("manifest", path=str(tmp_path / "odd.csv")).load()
    (tmp_path / "empty.csv").write_text("sample,subject,dataset,label,flow\n")
    load = build("manifest", path=str(tmp_path / "empty.csv")).load()
    (problem,) = load.problems
    assert load.samples == [] and not problem.fatal and "lists no samples" in problem.message


@pytest.mark.parametrize("encoding, message", [
    ("utf-16", r"m\.csv: the file is UTF-16 \(little-endian\) text, not UTF-8\. Fix: save it as UTF-8 \(Excel: 'CSV "
               r"UTF-8'.*, or point the dataset's 'path' argument to the right file"),
    ("cp1252", r"m\.csv: the file is not UTF-8 text \(byte 0xe9 on line 2 is not UTF-8"),
    ("binary", r"m\.csv: the file is binary, not text .* Fix: point the dataset's 'path' argument to the right file"),
])
def test_a_manifest_that_is_not_utf8_names_the_file_and_its_encoding(tmp_path: Path, encoding: str,
                                                                     message: str) -> None:
    text = "sample,subject,dataset,label,flow\ncafé,s1,d,0,a.png\n"
    data = b"PK\x03\x04\x00\x00binary" if encoding == "binary" else text.encode(encoding)
    (tmp_path / "m.csv").write_bytes(data)
    with pytest.raises(MertkError, match=message):
        build("manifest", path=str(tmp_path / "m.csv")).load()


def test_a_manifest_saved_as_utf8_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    write_flow(tmp_path / "a.png")
    (tmp_path / "m.csv").write_text("sample,subject,dataset,label,flow\nx,s1,d,0,a.png\n", encoding="utf-8-sig")
    load = build("manifest", path=str(tmp_path / "m.csv")).load()
    assert [s.id for s in load.samples] == ["d/s1/x"], load.problems


def test_a_fold_list_that_is_not_utf8_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "fold1.txt").write_bytes("a.png 0 casme2\n".encode("utf-16"))
    with pytest.raises(MertkError, match=r"fold1\.txt: the file is UTF-16 \(little-endian\) text.* dataset\.files"):
        build("fold-lists", files=[str(tmp_path / "*.txt")]).load()


def test_a_semicolon_delimited_manifest_gets_the_hint(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("sample;subject;dataset;label;flow\na;s1;mine;1;flows/a.png\n")
    with pytest.raises(MertkError, match=r"m\.csv: looks semicolon-delimited .*Fix: save it as comma-separated CSV"):
        build("manifest", path=str(tmp_path / "m.csv")).load()
    (tmp_path / "t.csv").write_text("sample\tsubject\tdataset\tlabel\tflow\n")
    with pytest.raises(MertkError, match=r"t\.csv: looks tab-delimited"):
        build("manifest", path=str(tmp_path / "t.csv")).load()
    write_flow(tmp_path / "flows" / "a.png")  # comma-separated with a byte-order mark, as Excel saves it: read
    (tmp_path / "ok.csv").write_bytes("\ufeffsample,subject,dataset,label,flow\na,s1,mine,1,flows/a.png\n"
                                      .encode("utf-8"))
    (sample,) = build("manifest", path=str(tmp_path / "ok.csv")).load().samples
    assert sample.id == "mine/s1/a"


def test_a_frames_path_that_is_a_file_is_named_so(tmp_path: Path, fake) -> None:
    fake.write_frames(tmp_path / "frames", ["img1.jpg"])
    write_flow(tmp_path / "flows" / "b" / "x.png")
    (tmp_path / "m.csv").write_text("sample,subject,dataset,label,frames,onset,flow\n"
                                    "a,s1,mine,1,frames/img1.jpg,1,\n"
                                    "b,s1,mine,1,,,flows/b\n")
    problems = build("manifest", path=str(tmp_path / "m.csv")).load().problems
    assert [(p.row, p.fatal) for p in problems] == [(2, True), (3, True)]
    assert problems[0].message == f"clip folder {tmp_path / 'frames' / 'img1.jpg'} is a file, not a folder"
    assert problems[1].message == f"flow image {tmp_path / 'flows' / 'b'} is a folder, not an image file"


def test_no_onset_and_apex_columns_warn_what_is_assumed_for_both(tmp_path: Path, fake) -> None:
    fake.write_frames(tmp_path / "frames" / "a", [f"img{n}.jpg" for n in range(5, 10)])
    (tmp_path / "m.csv").write_text("sample,subject,dataset,label,frames\na,s1,mine,1,frames/a\n")
    load = build("manifest", path=str(tmp_path / "m.csv")).load()
    (sample,) = load.samples
    assert (sample.onset, sample.apex) == (0, None)
    (warning,) = load.problems
    assert not warning.fatal and warning.row == 2
    assert warning.message == ("onset and apex are missing (onset None, apex None): the first frame img5.jpg is "
                               "taken as the onset, and the spotter picks the apex")
    assert "give the onset frame" in warning.fix
    (tmp_path / "m.csv").write_text("sample,subject,dataset,label,frames,onset,apex\na,s1,mine,1,frames/a,,8\n")
    (warning,) = build("manifest", path=str(tmp_path / "m.csv"), missing_apex="midpoint").load().problems
    assert warning.message == "onset is missing (onset ''): the first frame img5.jpg is taken as the onset"
