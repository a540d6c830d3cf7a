"""The per-dataset bundled configs: they pass `config check` and load data in the released layouts."""

from __future__ import annotations

from pathlib import Path

import pytest

import mertk
from mertk.config import load_config
from mertk.testing import invoke


@pytest.fixture(scope="module")
def components() -> mertk.Components:
    return mertk.load_components()


def casme2(fake, root: Path) -> None:
    fake.casme2_tree(root, [(1, "EP01_01", 10, 13, 16, "happiness"), (1, "EP02_01", 10, 12, 14, "others"),
                            (2, "EP03_02", 5, 7, 9, "repression"), (3, "EP04_01", 5, 8, 9, "surprise"),
                            (3, "EP05_01", 1, 2, 4, "fear")])


def samm(fake, root: Path) -> None:
    rows = []
    for subject, clip, emotion in [("006", "006_1_2", "Anger"), ("006", "006_1_3", "Contempt"),
                                   ("007", "007_6_1", "Happiness"), ("007", "007_6_2", "Other"),
                                   ("008", "008_1_1", "Surprise"), ("008", "008_1_2", "Fear")]:
        fake.write_frames(root / "SAMM" / subject / clip, (f"{subject}_{n:05d}.jpg" for n in range(100, 110)))
        rows.append((subject, clip, 1, 100, 104, 109, 10, "Micro - 1/2", "AU4", emotion, "I", ""))
    fake.write_xlsx(root / "SAMM_Micro_FACS_Codes_v2.xlsx", fake.SAMM_HEADER, rows, preamble=13)


def smic(fake, root: Path) -> None:
    for subject, emotion, clip in [(1, "negative", "s1_ne_01"), (1, "positive", "s1_po_01"),
                                   (2, "surprise", "s2_sur_01"), (2, "negative", "s2_ne_02")]:
        fake.write_frames(root / "HS" / f"s{subject}" / "micro" / emotion / clip,
                          (f"image{n:06d}.bmp" for n in range(20, 30)))


def casme3(fake, root: Path) -> None:
    rows = []
    for subject, clip, emotion in [("spNO.1", "a", "happy"), ("spNO.1", "b", "disgust"), ("spNO.2", "c", "others"),
                                   ("spNO.2", "d", "sad"), ("spNO.3", "e", "surprise"), ("spNO.3", "f", "fear"),
                                   ("spNO.3", "g", "anger")]:
        fake.write_frames(root / "part_A" / subject / clip / "color", (f"{n}.jpg" for n in range(12)))
        rows.append((subject, clip, 1, 5, 9, "AU1", "I", emotion, "Micro-expression"))
    fake.write_xlsx(root / "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx", fake.CASME3_HEADER, rows)


CASES = {
    # config: (variable, tree builder, class names, usable samples, subjects)
    "dual-atme-casme2.yaml": ("CASME2_ROOT", casme2, ("disgust", "happiness", "repression", "surprise", "others"),
                              4, 3),
    "dual-atme-samm.yaml": ("SAMM_ROOT", samm, ("anger", "contempt", "happiness", "surprise", "other"), 5, 3),
    "dual-atme-smic.yaml": ("SMIC_ROOT", smic, ("negative", "positive", "surprise"), 4, 2),
    "dual-atme-casme3.yaml": ("CASME3_ROOT", casme3, ("anger", "disgust", "fear", "happy", "others", "sad",
                                                      "surprise"), 7, 3),
}


@pytest.mark.parametrize("name", list(CASES))
def test_per_dataset_config_checks_and_loads_its_layout(name: str, components, fake, tmp_path: Path,
                                                        monkeypatch) -> None:
    variable, build, class_names, usable, subjects = CASES[name]
    build(fake, tmp_path)
    monkeypatch.setenv(variable, str(tmp_path))
    result = invoke(["config", "check", name])
    assert result.exit_code == 0 and result.output.strip().endswith(f"{name}: OK"), result.output
    loaded = load_config(name, components)
    assert loaded.config.protocol in ("loso", {"name": "loso"}) and loaded.config.model["name"] == "dual-atme"
    load = components.build("dataset", loaded.config.dataset).load()
    assert tuple(load.class_names) == class_names
    assert [p for p in load.problems if p.fatal] == []
    assert len(load.samples) == usable and len({s.subject for s in load.samples}) == subjects
    folds = components.build("protocol", loaded.config.protocol).split(load.samples)
    assert len(folds) == subjects  # leave one subject out
