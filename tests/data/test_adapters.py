"""Dataset adapters on fake trees in the released layouts, quirks included."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

import mertk
from mertk.api import DatasetLoad
from mertk.data import apply_on_error
from mertk.errors import MertkError


def build(name: str, **args):
    return mertk.load_components()["dataset"].get(name).factory(**args)


def problems_at(load: DatasetLoad, row: int) -> list:
    return [p for p in load.problems if p.row == row]


CASME2_CLIPS = [
    (1, "EP02_01f", 46, 59, 70, "happiness"),
    (1, "EP19_05f", 10, "/", 20, "disgust"),     # row 3: apex missing
    (2, "EP01_11f", 5, 8, 12, "surprise"),       # frames img5..img12: img9 < img10
    (2, "EP03_01", 5, 8, 12, "others"),          # outside megc3
    (3, "EP04_02", 1, 3, 5, "repression"),       # row 6: folder removed below
]


@pytest.fixture
def casme2_root(fake, tmp_path: Path) -> Path:
    fake.casme2_tree(tmp_path, CASME2_CLIPS)
    shutil.rmtree(tmp_path / "CASME2_RAW_selected" / "sub03" / "EP04_02")
    return tmp_path


def test_casme2_megc3_labels_quirks_and_problems(casme2_root: Path) -> None:
    load = build("casme2", root=str(casme2_root)).load()
    assert load.class_names == ("negative", "positive", "surprise")
    by_id = {s.id: s for s in load.samples}
    assert sorted(by_id) == ["casme2/sub01/EP02_01f", "casme2/sub01/EP19_05f", "casme2/sub02/EP01_11f"]
    happy = by_id["casme2/sub01/EP02_01f"]
    assert (happy.label, happy.subject, happy.dataset, happy.emotion) == (1, "casme2/sub01", "casme2", "happiness")
    assert (happy.onset, happy.apex, happy.offset) == (0, 13, 24)
    assert happy.frames[happy.apex].name == "img59.jpg"
    surprise = by_id["casme2/sub02/EP01_11f"]
    assert [f.name for f in surprise.frames] == [f"img{n}.jpg" for n in range(5, 13)]
    assert surprise.label == 2 and surprise.frames[surprise.apex].name == "img8.jpg"
    assert by_id["casme2/sub01/EP19_05f"].apex is None
    (missing_apex,) = problems_at(load, 3)
    assert not missing_apex.fatal and "apex" in missing_apex.message
    (absent,) = problems_at(load, 6)
    assert absent.fatal and "does not exist" in absent.message and absent.file.endswith(".xlsx")
    assert absent.sample == "casme2/sub03/EP04_02"
    assert load.excluded == {"emotion 'others' is outside class protocol megc3": 1}


def test_casme2_five_classes_and_midpoint(casme2_root: Path) -> None:
    load = build("casme2", root=str(casme2_root / "CASME2_RAW_selected"), classes="5class",
                 missing_apex="midpoint").load()
    assert load.class_names == ("disgust", "happiness", "repression", "surprise", "others")
    labels = {s.clip: load.class_names[s.label] for s in load.samples}
    assert labels == {"EP02_01f": "happiness", "EP19_05f": "disgust", "EP01_11f": "surprise", "EP03_01": "others"}
    disgust = next(s for s in load.samples if s.clip == "EP19_05f")
    assert disgust.apex == 5 and disgust.frames[disgust.apex].name == "img15.jpg"
    assert load.excluded == {}


def test_apply_on_error(casme2_root: Path) -> None:
    load = build("casme2", root=str(casme2_root)).load()
    assert apply_on_error(load, "skip") is load
    with pytest.raises(MertkError) as err:
        apply_on_error(load, "stop")
    text = str(err.value)
    assert "row 6" in text and "EP04_02" in text and "on_error: skip" in text
    assert "row 3" not in text  # warnings do not stop a run
    clean = DatasetLoad(load.samples, [p for p in load.problems if not p.fatal], load.class_names)
    assert apply_on_error(clean, "stop") is clean


def test_samm_preamble_padding_and_missing_apex(fake, tmp_path: Path) -> None:
    root = tmp_path / "SAMM"
    fake.write_frames(root / "006" / "006_1_2", (f"006_{n:05d}.jpg" for n in range(5560, 5591)))
    fake.write_frames(root / "007" / "007_6_1", (f"007_{n:04d}.jpg" for n in range(980, 1012)))  # 4-digit padding
    fake.write_frames(root / "007" / "007_6_2", (f"007_{n:04d}.jpg" for n in range(100, 110)))
    rows = [
        (6, "006_1_2", 1, 5562, 5588, 5590, 29, "Micro - 1/2", "AU4", "Anger", "III", ""),
        ("007", "007_6_1", 1, 990, -1, 1011, 22, "Micro - 1/2", "AU12", "Happiness", "I", ""),
        ("007", "007_6_2", 2, 100, 104, 109, 10, "Micro - 1/2", "AU1", "Other", "VII", ""),
    ]
    fake.write_xlsx(tmp_path / "SAMM_Micro_FACS_Codes_v2.xlsx", fake.SAMM_HEADER, rows, preamble=13)
    load = build("samm", root=str(root)).load()
    by_id = {s.id: s for s in load.samples}
    assert sorted(by_id) == ["samm/006/006_1_2", "samm/007/007_6_1"]
    anger = by_id["samm/006/006_1_2"]
    assert anger.label == 0 and anger.frames[anger.onset].name == "006_05562.jpg"
    assert anger.frames[anger.apex].name == "006_05588.jpg" and anger.meta["row"] == 15
    happy = by_id["samm/007/007_6_1"]
    assert happy.label == 1 and happy.apex is None and happy.frames[happy.onset].name == "007_0990.jpg"
    assert [p.row for p in load.problems] == [16] and not load.problems[0].fatal
    assert sum(load.excluded.values()) == 1
    five = build("samm", root=str(tmp_path), classes="5class").load()
    assert sorted(five.class_names[s.label] for s in five.samples) == ["anger", "happiness", "other"]


def smic_tree(fake, base: Path) -> None:
    fake.write_frames(base / "s1" / "micro" / "negative" / "s1_ne_01",
                 (f"image{n:06d}.bmp" for n in range(559740, 559760) if n not in (559745, 559746)))
    fake.write_frames(base / "s2" / "micro" / "positive" / "s2_po_01", (f"image{n:06d}.bmp" for n in range(10, 30)))
    fake.write_frames(base / "s2" / "micro" / "surprise" / "s2_sur_01", (f"image{n:06d}.bmp" for n in range(40, 52)))
    (base / "s2" / "micro" / "surprise" / "s2_sur_02").mkdir()  # an empty clip folder


def test_smic_hs_names_missing_frames_and_no_apex(fake, tmp_path: Path) -> None:
    smic_tree(fake, tmp_path / "HS")
    load = build("smic", root=str(tmp_path)).load()
    by_id = {s.id: s for s in load.samples}
    assert sorted(by_id) == ["smic/s01/s01_ne_01", "smic/s02/s02_po_01", "smic/s02/s02_sur_01"]
    negative = by_id["smic/s01/s01_ne_01"]
    assert (negative.label, negative.onset, negative.apex, negative.offset) == (0, 0, None, 17)
    assert negative.frames[-1].name == "image559759.bmp"
    assert [by_id[i].label for i in sorted(by_id)] == [0, 1, 2]
    gaps = [p for p in load.problems if "missing inside the clip" in p.message]
    assert len(gaps) == 1 and "559745" in gaps[0].message and not gaps[0].fatal
    empty = [p for p in load.problems if p.fatal]
    assert len(empty) == 1 and "s2_sur_02" in empty[0].file
    assert any("no apex annotation" in p.message for p in load.problems)


def test_smic_vis_in_release_folder(fake, tmp_path: Path) -> None:
    smic_tree(fake, tmp_path / "SMIC_all_raw" / "VIS")
    load = build("smic", root=str(tmp_path), modality="VIS", missing_apex="midpoint").load()
    assert {s.dataset for s in load.samples} == {"smic-vis"}
    assert all(s.apex is not None and s.onset < s.apex < s.offset for s in load.samples)


def test_casme3_duplicates_dropped_frames_and_expression_type(fake, tmp_path: Path) -> None:
    part_a = tmp_path / "part_A"
    fake.write_frames(part_a / "spNO.1" / "a" / "color", (f"{n}.jpg" for n in range(0, 21)))
    fake.write_frames(part_a / "spNO.2" / "c" / "color", (f"{n}.jpg" for n in range(0, 12) if n != 7))
    rows = [
        ("spNO.1", "a", 2, 5, 10, "AU12", "I", "happy", "Micro-expression"),
        ("spNO.1", "a", 12, 15, 18, "AU9", "IV", "disgust", "Micro-expression"),   # same clip again
        ("spNO.1", "b", 1, 2, 3, "AU1", "II", "surprise", "Macro-expression"),
        ("spNO.2", "c", 1, 7, 9, "AU2", "II", "surprise", "Micro-expression"),     # apex frame dropped
        ("spNO.2", "c", 3, 4, 5, "AU2", "VII", "others", "Micro-expression"),
    ]
    fake.write_xlsx(tmp_path / "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx", fake.CASME3_HEADER, rows)
    load = build("casme3", root=str(tmp_path)).load()
    ids = [s.id for s in load.samples]
    assert ids == ["casme3/spNO.1/a", "casme3/spNO.1/a.2", "casme3/spNO.2/c"]
    assert [s.label for s in load.samples] == [1, 0, 2]
    assert load.samples[1].frames[load.samples[1].onset].name == "12.jpg"
    surprise = load.samples[2]
    assert surprise.frames[surprise.apex].name in ("6.jpg", "8.jpg")
    rows_reported = sorted((p.row, p.fatal) for p in load.problems if p.row is not None)
    assert (3, False) in rows_reported and (5, False) in rows_reported
    assert sum(load.excluded.values()) == 2
    seven = build("casme3", root=str(part_a), classes="7class").load()
    assert len(seven.class_names) == 7 and len(seven.samples) == 4
    four = build("casme3", root=str(tmp_path), classes="4class").load()
    assert four.class_names[four.samples[-1].label] == "others"


def test_missing_root_and_sheet_raise_clear_errors(fake, tmp_path: Path) -> None:
    with pytest.raises(MertkError, match="root folder not found"):
        build("casme2", root=str(tmp_path / "nowhere")).load()
    fake.write_frames(tmp_path / "sub01" / "EP01", ["img1.jpg"])
    with pytest.raises(MertkError, match="annotation"):
        build("casme2", root=str(tmp_path)).load()


def test_megc2019_composite_counts(fake, tmp_path: Path) -> None:
    load = build("megc2019-cd", **fake.megc_fake_trees(tmp_path)).load()
    assert [p for p in load.problems if p.fatal] == []
    samples = load.samples
    assert len(samples) == 442 and len({s.id for s in samples}) == 442
    assert len({s.subject for s in samples}) == 68
    per_dataset = {d: Counter(load.class_names[s.label] for s in samples if s.dataset == d)
                   for d in ("casme2", "samm", "smic")}
    assert per_dataset["casme2"] == {"negative": 88, "positive": 32, "surprise": 25}
    assert per_dataset["samm"] == {"negative": 92, "positive": 26, "surprise": 15}
    assert per_dataset["smic"] == {"negative": 70, "positive": 51, "surprise": 43}
    assert {d: len({s.subject for s in samples if s.dataset == d}) for d in per_dataset} == \
        {"casme2": 24, "samm": 28, "smic": 16}
    first = next(s for s in samples if s.id == "smic/s01/s01_ne_01")
    assert first.frames[first.onset].name == "image559740.bmp" and first.frames[first.apex].name == "image559753.bmp"


def test_megc2019_composite_reports_absent_clips(fake, tmp_path: Path) -> None:
    roots = fake.megc_fake_trees(tmp_path)
    shutil.rmtree(Path(roots["samm_root"]) / "SAMM" / "006" / "006_1_2")
    load = build("megc2019-cd", **roots).load()
    (problem,) = [p for p in load.problems if p.fatal]
    assert problem.fatal and problem.sample == "samm/006/006_1_2" and problem.file.endswith("megc2019_cd.csv")
    assert len(load.samples) == 441
