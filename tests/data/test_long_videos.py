"""Long-video adapters on fake trees in the released layouts, the manifest form and the long demo."""

from __future__ import annotations

import csv
from pathlib import Path

import openpyxl
import pytest

from mertk.api import Interval
from mertk.data.casme_squared import CasmeSquared
from mertk.data.demo_long import LongDemo, generate_long_demo
from mertk.data.long_manifest import LongVideoManifest
from mertk.data.samm_lv import SammLongVideos
from mertk.errors import MertkError


def casme_squared_tree(root: Path, fake, rows: list[tuple], frames: dict[str, range]) -> Path:
    """``rawpic/sNN/<recording>/imgN.jpg`` and the three-sheet ``CAS(ME)^2code_final.xlsx`` (no headers)."""
    for folder, numbers in frames.items():
        fake.write_frames(root / "rawpic" / folder, (f"img{n}.jpg" for n in numbers))
    book = openpyxl.Workbook()
    code = book.active
    code.title = "CASMEcode_final"
    for row in rows:
        code.append(list(row))
    rule1 = book.create_sheet("naming rule1")
    rule1.append([15, "S15", 1])
    rule1.append([16, "S16", 2])
    rule2 = book.create_sheet("naming rule2")
    rule2.append(["0101", "disgust1"])
    rule2.append([102, "anger1"])  # a code stored as a number: 0102
    path = root / "CAS(ME)^2code_final.xlsx"
    book.save(path)
    return path


def test_casme_squared_reads_the_release_layout(tmp_path, fake):
    rows = [(1, "disgust1_1", 10, 12, 15, "AU4", "disgust", "micro-expression", "disgust"),
            (1, "disgust1_2", 30, 40, 60, "AU9", "disgust", "macro-expression", "disgust"),
            (2, "anger1_1", 5, 6, 8, "AU4", "anger", "micro-expression", "anger")]
    casme_squared_tree(tmp_path, fake, rows, {"s15/15_0101disgustingteeth": range(1, 81),
                                              "s16/16_0102eatingworms": range(1, 21),
                                              "s16/16_0101disgustingteeth": range(1, 11)})
    load = CasmeSquared(str(tmp_path)).load()
    assert load.problems == []
    videos = {v.id: v for v in load.videos}
    assert set(videos) == {"casme-squared/s15/15_0101disgustingteeth", "casme-squared/s16/16_0102eatingworms",
                           "casme-squared/s16/16_0101disgustingteeth"}
    first = videos["casme-squared/s15/15_0101disgustingteeth"]
    assert (first.subject, first.fps, len(first.frames)) == ("casme-squared/s15", 30.0, 80)
    # frame numbers (img10.jpg) become positions (9), both ends included
    assert first.intervals == (Interval(9, 14, "micro", apex=11), Interval(29, 59, "macro", apex=39))
    assert videos["casme-squared/s16/16_0102eatingworms"].intervals == (Interval(4, 7, "micro", apex=5),)
    assert videos["casme-squared/s16/16_0101disgustingteeth"].intervals == ()  # a recording with none


def test_casme_squared_lists_every_problem_at_once(tmp_path, fake):
    rows = [(1, "disgust1_1", 10, 12, 0, "AU4", "disgust", "micro-expression", ""),  # offset not coded
            (1, "disgust1_2", 30, 40, 95, "AU9", "disgust", "macro-expression", ""),  # past the frames
            (3, "disgust1_3", 1, 2, 3, "", "", "micro-expression", ""),  # unknown participant
            (2, "anger1_1", 5, 6, 8, "AU4", "anger", "micro-expression", "")]  # no recording folder
    sheet = casme_squared_tree(tmp_path, fake, rows, {"s15/15_0101disgustingteeth": range(1, 81)})
    load = CasmeSquared(str(tmp_path / "rawpic")).load()
    assert load.videos == []  # the one recording has fatal rows: left out whole
    messages = [(p.row, p.message) for p in load.problems]
    assert (1, "the row has no offset frame (blank or 0)") in messages
    assert any(row == 2 and "frame 95 is not among the recording's frame files (numbered 1..80)" in m
               for row, m in messages)
    assert (3, "participant 3 is not in the sheet 'naming rule1'") in messages
    assert any(row == 4 and "no recording folder s16/16_0102*" in m for row, m in messages)
    assert all(p.file == str(sheet) and p.fatal for p in load.problems)
    # offset 0 may be filled from the apex instead, with a warning
    fixed = CasmeSquared(str(tmp_path), missing_offset="apex").load()
    assert any(not p.fatal and p.row == 1 for p in fixed.problems)


def test_casme_squared_needs_the_workbook(tmp_path, fake):
    fake.write_frames(tmp_path / "rawpic" / "s15" / "15_0101x", ["img1.jpg"])
    with pytest.raises(MertkError, match="no CAS\\(ME\\)\\^2code_final"):
        CasmeSquared(str(tmp_path)).load()
    sheet = fake.write_xlsx(tmp_path / "CAS(ME)^2code_final.xlsx", ["x"], [])
    with pytest.raises(MertkError, match="no sheet 'naming rule1'"):
        CasmeSquared(str(tmp_path), annotation=str(sheet)).load()


SAMM_LV_HEADER = ("Subject", "Filename", "Inducement Code", "Onset", "Apex", "Offset", "Duration", "Type",
                  "Action Units", "Notes")


def test_samm_lv_reads_the_release_layout(tmp_path, fake):
    fake.write_frames(tmp_path / "SAMM_longvideos" / "006_1", (f"006_1_{n:04d}.jpg" for n in range(1, 301)))
    fake.write_frames(tmp_path / "SAMM_longvideos" / "007_3", (f"007_3_{n:05d}.jpg" for n in range(1, 51)))
    fake.write_xlsx(tmp_path / "SAMM_LongVideos_V1_Release.xlsx", SAMM_LV_HEADER, [
        ("006", "006_1_1", 1, 100, 120, 160, 61, "Micro - 1/2", "R12", ""),
        ("006", "006_1_2", 1, 200, 230, 290, 91, "Macro", "4", ""),
        ("007", "007_3_1", 2, 10, 0, 30, 21, "Micro - 1/2", "", "no apex coded"),
    ], preamble=9)
    load = SammLongVideos(str(tmp_path)).load()
    assert [p for p in load.problems if p.fatal] == []
    videos = {v.id: v for v in load.videos}
    assert videos["samm-lv/006/006_1"].intervals == (Interval(99, 159, "micro", apex=119),
                                                    Interval(199, 289, "macro", apex=229))
    assert videos["samm-lv/007/007_3"].intervals == (Interval(9, 29, "micro", apex=None),)
    assert (videos["samm-lv/006/006_1"].fps, videos["samm-lv/006/006_1"].subject) == (200.0, "samm-lv/006")


def test_samm_lv_problems(tmp_path, fake):
    fake.write_frames(tmp_path / "SAMM_longvideos" / "006_1", (f"006_1_{n:04d}.jpg" for n in range(1, 101)))
    fake.write_xlsx(tmp_path / "SAMM_LongVideos_V2_Release.xlsx", SAMM_LV_HEADER, [
        ("006", "006_1_1", 1, 50, 60, 40, 0, "Micro - 1/2", "", ""),  # offset before onset
        ("006", "006_1_2", 1, 10, 12, 14, 0, "Smile", "", ""),  # unknown type
        ("008", "008_2_1", 1, 10, 12, 14, 0, "Macro", "", ""),  # no folder
        ("006", "bad", 1, 10, 12, 14, 0, "Macro", "", ""),
    ], preamble=3)
    load = SammLongVideos(str(tmp_path / "SAMM_longvideos")).load()
    assert load.videos == []
    messages = {p.row: p.message for p in load.problems}
    assert "is before the onset" in messages[5] and "'Smile' is neither micro nor macro" in messages[6]
    assert "no recording folder 008_2" in messages[7] and "'bad' is not" in messages[8]


def write_manifest(folder: Path, rows: list[list[str]]) -> Path:
    path = folder / "videos.csv"
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows([["video", "subject", "dataset", "fps", "intervals"], *rows])
    return path


def test_manifest_reads_frame_folders_and_videos(tmp_path, fake):
    import cv2
    import numpy as np

    fake.write_frames(tmp_path / "rec1", (f"frame_{n:03d}.png" for n in range(7, 57)))  # numbering from 7
    (tmp_path / "iv").mkdir()
    (tmp_path / "iv" / "rec1.csv").write_text("onset,apex,offset,type\n0,2,4,micro\n10,,40,Macro\n")
    writer = cv2.VideoWriter(str(tmp_path / "rec2.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (16, 16), False)
    for _ in range(30):
        writer.write(np.full((16, 16), 100, np.uint8))
    writer.release()
    (tmp_path / "iv" / "rec2.csv").write_text("onset,offset,type\n3,9,micro\n")
    path = write_manifest(tmp_path, [["rec1", "p1", "lab", "30", "iv/rec1.csv"], ["rec2.avi", "p2", "", "", "iv/rec2.csv"]])
    load = LongVideoManifest(str(path)).load()
    assert load.problems == []
    first, second = load.videos
    assert (first.id, first.fps, len(first.frames)) == ("lab/p1/rec1", 30.0, 50)
    assert first.intervals == (Interval(0, 4, "micro", apex=2), Interval(10, 40, "macro"))  # positions, not numbers
    assert (second.id, second.fps, second.video, second.frames) == ("manifest/p2/rec2", 25.0, tmp_path / "rec2.avi", ())
    assert second.intervals == (Interval(3, 9, "micro"),)


def test_manifest_problems_name_the_row(tmp_path, fake):
    fake.write_frames(tmp_path / "rec1", (f"img{n}.jpg" for n in range(1, 11)))
    (tmp_path / "rec1.csv").write_text("onset,offset,type\n2,12,micro\n")
    path = write_manifest(tmp_path, [["rec1", "p1", "", "30", "rec1.csv"], ["missing", "p2", "", "30", ""],
                                     ["rec1", "p3", "", "", ""], ["rec1", "p4", "", "30", "nothere.csv"]])
    load = LongVideoManifest(str(path)).load()
    assert load.videos == []
    found = {(p.file, p.row): p.message for p in load.problems}
    assert "past the recording's end (10 frames)" in found[(str(tmp_path / "rec1.csv"), 2)]
    assert "neither a frame folder nor a video file" in found[(str(path), 3)]
    assert found[(str(path), 4)] == "a frame folder needs its fps"
    assert "annotation file not found" in found[(str(path), 5)]


def test_manifest_refuses_a_recording_listed_twice_and_warns_of_no_rows(tmp_path, fake):
    fake.write_frames(tmp_path / "rec1", (f"img{n}.jpg" for n in range(1, 11)))
    path = write_manifest(tmp_path, [["rec1", "p1", "", "30", ""], ["rec1", "p1", "", "25", ""]])
    load = LongVideoManifest(str(path)).load()
    assert [(v.id, v.fps) for v in load.videos] == [("manifest/p1/rec1", 30.0)]  # the first row is kept
    (twice,) = load.problems
    assert (twice.file, twice.row, twice.sample, twice.fatal) == (str(path), 3, "manifest/p1/rec1", True)
    assert twice.message == "recording manifest/p1/rec1 is listed twice"
    empty = LongVideoManifest(str(write_manifest(tmp_path, []))).load()
    (warning,) = empty.problems
    assert empty.videos == [] and not warning.fatal
    assert (warning.message, warning.fix) == ("the manifest lists no recordings (a header and no rows)",
                                              "add one row per recording")


def test_long_demo_streams_known_intervals(tmp_path):
    folder = tmp_path / "demo"
    folder.mkdir()
    generate_long_demo(folder, seed=1, videos=1, seconds=12, fps=10)
    load = LongDemo(root=str(folder)).load()
    assert load.problems == []
    (video,) = load.videos
    assert (video.dataset, video.fps, len(video.frames)) == ("long-demo", 10.0, 120)
    assert video.intervals and {i.expression for i in video.intervals} <= {"micro", "macro"}
    blinks = list(csv.DictReader((folder / "intervals" / "sub01_1.blinks.csv").open()))
    events = sorted([(i.onset, i.offset) for i in video.intervals] + [(int(b["onset"]), int(b["offset"])) for b in blinks])
    assert all(a[1] < b[0] for a, b in zip(events, events[1:]))  # events never overlap
    assert events[0][0] >= 15 and events[-1][1] < 120 - 15  # none in the first and last 1.5 s


def test_long_video_adapters_and_spotters_are_components():
    import mertk

    components = mertk.load_components(autoload=False)
    assert {i.name for i in components["video_dataset"].list()} == {"casme-squared", "samm-lv", "long-manifest",
                                                                    "long-demo"}
    assert {i.name for i in components["spotter"].list()} == {"strain-peaks", "flow-windows"}
    assert {i.name for i in components["apex_spotter"].list()} == {"max-motion", "middle"}
    with pytest.raises(MertkError, match="1-12 videos"):
        components.create("video_dataset", "long-demo", videos=20)
