"""Action units: the released AU codes of every source parsed into ``Sample.aus``."""

from __future__ import annotations

from pathlib import Path

import pytest

import mertk
from mertk.data.action_units import DEFAULT_AUS, check_au_set, parse_action_units
from mertk.errors import MertkError


def build(name: str, **args):
    return mertk.load_components()["dataset"].get(name).factory(**args)


@pytest.mark.parametrize(("cell", "aus"), [
    # CASME II: bare numbers, side letters, AU prefixes
    ("4+7", ("AU4", "AU7")),
    ("R12", ("AU12",)),
    ("L2", ("AU2",)),
    ("AU4", ("AU4",)),
    ("4+7+L10", ("AU4", "AU7", "AU10")),
    ("L12+R12", ("AU12",)),                 # both sides coded apart: one AU
    ("12+4+1", ("AU1", "AU4", "AU12")),     # ordered by AU number, not as written
    ("R12+25", ("AU12", "AU25")),
    # SAMM: spaces around '+', intensity letters A-E before or after the number
    ("R12 + R15", ("AU12", "AU15")),
    ("R14A", ("AU14",)),
    ("A1", ("AU1",)),
    ("1A", ("AU1",)),
    ("12E+AU4C", ("AU4", "AU12")),
    # CAS(ME)^3 and others: AU prefixes on every code, commas, bilateral / top / unilateral marks
    ("AU4+AU7", ("AU4", "AU7")),
    ("AU1, AU2", ("AU1", "AU2")),
    ("B4", ("AU4",)),
    ("T28", ("AU28",)),
    ("U14", ("AU14",)),
    ("12R", ("AU12",)),
    ("au 12", ("AU12",)),
    ("12.0", ("AU12",)),                    # a number cell as a spreadsheet stores it
    ("none", ()),
    ("0", ()),
])
def test_au_cells_are_normalised(cell: str, aus: tuple[str, ...]) -> None:
    assert parse_action_units(cell).aus == aus


@pytest.mark.parametrize(("cell", "unknown"), [
    ("?", ("?",)),
    ("4+?", ("?",)),
    ("R12 or R15", ("R12orR15",)),          # SAMM's undecided codes are not guessed
    ("M57", ("M57",)),
    ("3", ("3",)),                          # FACS has no AU3
    ("4+", ("",)),
    ("", ("",)),
])
def test_unreadable_cells_give_no_aus_and_name_the_token(cell: str, unknown: tuple[str, ...]) -> None:
    parsed = parse_action_units(cell)
    assert parsed.aus is None and parsed.unknown == unknown


def test_au_sets_are_checked_and_normalised() -> None:
    assert check_au_set([12, "au4", "AU1"]) == ("AU1", "AU4", "AU12")
    assert check_au_set(DEFAULT_AUS) == DEFAULT_AUS
    with pytest.raises(MertkError, match=r"task\.aus\.1: 'AU3' is not a FACS action unit"):
        check_au_set(["AU1", "AU3"])
    with pytest.raises(MertkError, match="'smile' is not"):
        check_au_set(["smile"])
    with pytest.raises(MertkError, match="AU4 is named twice"):
        check_au_set(["AU4", 4])
    with pytest.raises(MertkError, match="empty"):
        check_au_set([])


def test_casme2_fills_aus_and_reports_an_unknown_token_with_file_and_row(fake, tmp_path: Path) -> None:
    for clip in ("EP01", "EP02", "EP03"):
        fake.write_frames(tmp_path / "CASME2_RAW_selected" / "sub01" / clip, (f"img{n}.jpg" for n in range(1, 6)))
    sheet = fake.write_xlsx(tmp_path / "CASME2-coding-20140508.xlsx", fake.CASME2_HEADER, [
        (1, "EP01", None, 1, 3, 5, None, "4+L10+7", "disgust"),
        (1, "EP02", None, 1, 3, 5, None, "12+?", "happiness"),   # row 3
        (1, "EP03", None, 1, 3, 5, None, "none", "surprise"),
    ])
    load = build("casme2", root=str(tmp_path)).load()
    by_clip = {s.clip: s for s in load.samples}
    assert len(by_clip) == 3                                       # an AU typo never drops a clip
    assert by_clip["EP01"].aus == ("AU4", "AU7", "AU10") and by_clip["EP01"].meta["action_units"] == "4+L10+7"
    assert by_clip["EP02"].aus is None and by_clip["EP03"].aus == ()
    (problem,) = [p for p in load.problems if "action unit" in p.message]
    assert (problem.file, problem.row, problem.sample, problem.fatal) == (str(sheet), 3, "casme2/sub01/EP02", False)
    assert "'?'" in problem.message and "Action Units" in problem.message


def test_samm_and_casme3_fill_aus(fake, tmp_path: Path) -> None:
    fake.write_frames(tmp_path / "SAMM" / "006" / "006_1_2", (f"006_{n:05d}.jpg" for n in range(10, 20)))
    fake.write_xlsx(tmp_path / "SAMM_Micro_FACS_Codes_v2.xlsx", fake.SAMM_HEADER, [
        (6, "006_1_2", 1, 10, 14, 19, 10, "Micro - 1/2", "R12B + R15A", "Happiness", "I", ""),
    ], preamble=13)
    (samm,) = build("samm", root=str(tmp_path / "SAMM")).load().samples
    assert samm.aus == ("AU12", "AU15") and samm.meta["action_units"] == "R12B + R15A"
    part_a = tmp_path / "part_A"
    fake.write_frames(part_a / "spNO.1" / "a" / "color", (f"{n}.jpg" for n in range(0, 10)))
    fake.write_xlsx(tmp_path / "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx", fake.CASME3_HEADER, [
        ("spNO.1", "a", 1, 4, 8, "AU1+AU2+L4", "II", "surprise", "Micro-expression"),
    ])
    (casme3,) = build("casme3", root=str(tmp_path)).load().samples
    assert casme3.aus == ("AU1", "AU2", "AU4")


def test_smic_has_no_au_coding(fake, tmp_path: Path) -> None:
    fake.write_frames(tmp_path / "HS" / "s1" / "micro" / "negative" / "s1_ne_01", (f"image{n}.bmp" for n in range(8)))
    (sample,) = build("smic", root=str(tmp_path)).load().samples
    assert sample.aus is None


def test_megc2019_composite_takes_aus_from_the_coding_sheets(fake, tmp_path: Path) -> None:
    roots = fake.megc_fake_trees(tmp_path)
    without = {s.id: s for s in build("megc2019-cd", **roots).load().samples}
    assert all(s.aus is None for s in without.values())               # no sheets: not coded
    fake.write_xlsx(Path(roots["casme2_root"]) / "CASME2-coding-20140508.xlsx", fake.CASME2_HEADER,
                    [(1, "EP02_01f", None, 46, 59, 70, None, "6+R12", "happiness")])
    fake.write_xlsx(Path(roots["samm_root"]) / "SAMM_Micro_FACS_Codes_v2.xlsx", fake.SAMM_HEADER,
                    [(6, "006_1_2", 1, 5562, 5588, 5590, 29, "Micro - 1/2", "4+R7", "Anger", "III", "")],
                    preamble=13)
    load = build("megc2019-cd", **roots).load()
    by_id = {s.id: s for s in load.samples}
    assert by_id["casme2/sub01/EP02_01f"].aus == ("AU6", "AU12")
    assert by_id["samm/006/006_1_2"].aus == ("AU4", "AU7")
    assert by_id["casme2/sub01/EP19_05f"].aus is None                 # not in the sheet
    assert by_id["smic/s01/s01_ne_01"].aus is None
    assert [p for p in load.problems if p.fatal] == []
    (Path(roots["samm_root"]) / "SAMM_Micro_FACS_Codes_v2.xlsx").write_bytes(b"not a workbook")
    broken = build("megc2019-cd", **roots).load()                     # the emotion run still works
    assert len(broken.samples) == 442 and [p for p in broken.problems if p.fatal] == []
    (warning,) = [p for p in broken.problems if p.file.endswith("SAMM_Micro_FACS_Codes_v2.xlsx")]
    assert "action units cannot be read" in warning.message
    assert {s.aus for s in broken.samples if s.dataset == "samm"} == {None}


def test_manifest_aus_column(tmp_path: Path, fake) -> None:
    for name in ("a", "b", "c"):
        fake.write_frames(tmp_path / "frames" / name, (f"img{n}.jpg" for n in range(1, 6)))
    (tmp_path / "m.csv").write_text("sample,subject,dataset,label,frames,onset,apex,aus\n"
                                    "a,s1,x,0,frames/a,1,3,AU1+AU2+R12\n"
                                    "b,s1,x,1,frames/b,1,3,\n"
                                    "c,s2,x,2,frames/c,1,3,none\n")
    load = build("manifest", path=str(tmp_path / "m.csv")).load()
    assert [s.aus for s in load.samples] == [("AU1", "AU2", "AU12"), None, ()]
    assert load.samples[0].meta["action_units"] == "AU1+AU2+R12"
    (problem,) = [p for p in load.problems if "aus" in p.message]
    assert problem.row == 3 and "blank" in problem.message and not problem.fatal
    (tmp_path / "n.csv").write_text("sample,subject,dataset,label,frames,onset\na,s1,x,0,frames/a,1\n")
    (plain,) = build("manifest", path=str(tmp_path / "n.csv")).load().samples
    assert plain.aus is None and "action_units" not in plain.meta


def test_casme_reads_its_sheet_and_aus(fake, tmp_path: Path) -> None:
    base = tmp_path / "CASME_raw_selected"
    fake.write_frames(base / "sub01" / "EP01_5", (f"img{n}.jpg" for n in range(10, 30)))
    fake.write_frames(base / "sub07" / "EP12_3", (f"img{n}.jpg" for n in range(1, 12)))
    sheet = fake.write_xlsx(tmp_path / "CASME_A_Section.xlsx", fake.CASME_HEADER, [
        (1, "EP01_5", None, 12, 18, 19, 27, None, "4+L10", "disgust"),
        (7, "EP12_3", None, 2, 5, None, 9, None, "12", "amusement"),
        (7, "EP12_4", None, 2, 5, None, 9, None, "1+2", "tense"),          # left out by megc3
    ])
    load = build("casme", root=str(tmp_path)).load()
    assert [(s.id, s.label, s.aus) for s in load.samples] == [
        ("casme/sub01/EP01_5", 0, ("AU4", "AU10")), ("casme/sub07/EP12_3", 1, ("AU12",))]
    first = load.samples[0]
    assert first.frames[first.onset].name == "img12.jpg" and first.frames[first.apex].name == "img18.jpg"
    assert first.meta["file"] == str(sheet) and sum(load.excluded.values()) == 1
    assert [p for p in load.problems if p.fatal] == []
    eight = build("casme", root=str(base), classes="8class").load()
    assert [eight.class_names[s.label] for s in eight.samples] == ["disgust", "amusement"]


def test_mmew_finds_clips_in_emotion_folders(fake, tmp_path: Path) -> None:
    base = tmp_path / "MMEW" / "Micro_Expression"
    fake.write_frames(base / "happiness" / "S01_1", (f"{n}.jpg" for n in range(1, 40)))
    fake.write_frames(base / "Surprise" / "S02_4", (f"{n}.jpg" for n in range(1, 40)))   # folder case differs
    fake.write_xlsx(tmp_path / "MMEW" / "MMEW_Micro_Exp.xlsx", fake.MMEW_HEADER, [
        ("S01", "S01_1", 3, 10, 30, "R12+6", "happiness", ""),
        ("S02", "S02_4", 2, 8, 20, "1+2+5", "surprise", ""),
        ("S02", "S02_9", 2, 8, 20, "4", "fear", ""),                        # row 4: clip folder absent
        ("S03", "S03_2", 2, 8, 20, "4", "others", ""),                      # left out by megc3
    ])
    load = build("mmew", root=str(tmp_path / "MMEW")).load()
    assert [(s.id, s.label, s.aus) for s in load.samples] == [
        ("mmew/S01/S01_1", 1, ("AU6", "AU12")), ("mmew/S02/S02_4", 2, ("AU1", "AU2", "AU5"))]
    (missing,) = [p for p in load.problems if p.fatal]
    assert missing.row == 4 and "fear" in missing.message and "does not exist" in missing.message
    assert sum(load.excluded.values()) == 1
    with pytest.raises(MertkError, match="MMEW root folder not found"):
        build("mmew", root=str(tmp_path / "nowhere")).load()
