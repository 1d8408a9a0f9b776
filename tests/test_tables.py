"""Tables 1-4 and the ablation table (lstmattn.tables) from hand-written run result files.

Run folders come from :func:`result_fixtures.make_run`, with the keys the engine writes;
nothing is trained.
"""

from __future__ import annotations

import ast
import math
import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from lstmattn.cli import main
from lstmattn.engine.plan import REAL_DATA_PROFILE
from lstmattn.io import atomic_write_json
from lstmattn.results import read_runs
from lstmattn.tables import (
    NOT_AVAILABLE,
    NOT_RUN,
    ablation_table,
    all_tables,
    confusion_frames,
    format_delta,
    format_interval,
    real_segmentation_table,
    table1,
    table2,
    table3,
    table4,
    effects_beyond_noise,
    seed_noise_summary,
    write_table,
)
from lstmattn.tables.format import NO_INTERVAL_MARK
from lstmattn.tables.paper_values import QUOTED, QUOTED_CAPTION_SAME_DATA, TABLE1, TABLE2, TABLE2_CAPTION, ap_mean_bounds
from lstmattn.model.registry import ONE_SHOT
from lstmattn.variants import ABLATIONS, IDEAS, TWO_CLASS
from result_fixtures import PHANTOM, REAL, THREE, TWO, classification, make_run, segmentation, with_intervals

PACKAGE = Path(__file__).resolve().parents[1] / "lstmattn"
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
ONE_SHOT_TEST = classification(THREE, {"Normal": 0.9, "CP": 0.8, "COVID-19": 0.7531}, 0.8123)


def _fill(root: Path, **data) -> Path:
    make_run(root, "one-shot-lstm-attention", test=ONE_SHOT_TEST, segmentation=segmentation(0.4), **data)
    make_run(root, "mask-rcnn", segmentation=segmentation(0.3), **data)
    make_run(root, "classifier-resnet18", test=classification(THREE, {"Normal": 0.5, "CP": 0.6, "COVID-19": 0.7}, 0.6),
             **data)
    make_run(root, "one-shot-lstm-attention", variant="roi_order=confidence",
             test=classification(THREE, {"Normal": 0.9, "CP": 0.8, "COVID-19": 0.8031}, 0.8323),
             segmentation=segmentation(0.45), **data)
    make_run(root, "one-shot-lstm-attention", profile="paper", test=ONE_SHOT_TEST, **data)  # other profile: ignored
    (root / "_data").mkdir()  # phantom cache: not a run
    (root / "unfinished").mkdir()
    atomic_write_json({"run_id": "unfinished", "model": "mask-rcnn", "profile": "quick", "seed": 0},
                      root / "unfinished" / "record.json")
    return root


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    """Runs on synthetic phantoms."""
    return _fill(tmp_path / "runs")


@pytest.fixture
def real_runs(tmp_path: Path) -> Path:
    """The same runs, recorded as trained on the paper's data (COVIDx CT-1 / CNCB)."""
    return _fill(tmp_path / "real-runs", data=REAL, phantom=False)


def _row(result, model: str) -> pd.Series:
    rows = result.frame[result.frame["model"] == model]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def test_format_helpers() -> None:
    assert format_interval(95.1, 93.2, 96.8) == "95.10 (93.20–96.80)"
    assert format_interval(0.6054, decimals=3) == "0.605"
    assert format_interval(float("nan")) == ""
    assert format_interval(0.6054, decimals=3, interval_missing=True) == f"0.605 {NO_INTERVAL_MARK}"
    assert format_interval(0.6054, 0.58, 0.63, decimals=3, interval_missing=True) == "0.605 (0.580–0.630)"
    assert format_delta(1.234) == "+1.23" and format_delta(-0.4) == "-0.40" and format_delta(float("nan")) == ""


def test_tables_never_run_a_model_or_read_files_of_their_own() -> None:
    """Pure formatting of lstmattn.results: no engine, model, torch, JSON or YAML."""
    for path in (PACKAGE / "tables").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        for banned in ("lstmattn.engine", "lstmattn.model", "torch", "json", "yaml", "lstmattn.viz"):
            assert not any(name == banned or name.startswith(banned + ".") for name in imported), (path.name, banned)


# --------------------------------------------------------------------------- table 1
def test_table1_rows_paper_values_and_delta(real_runs: Path) -> None:
    runs = real_runs
    result = table1(runs, "quick")
    assert list(result.frame["row"]) == [row.label for row in TABLE1.rows]
    one_shot = _row(result, "one-shot-lstm-attention")
    assert one_shot["status"] == "evaluated" and one_shot["run_id"] == "quick-one-shot-lstm-attention-s0"
    assert one_shot["AP@0.5 paper"] == pytest.approx(0.605)
    assert one_shot["AP@0.5 ours"] == pytest.approx(0.4)
    assert one_shot["AP@0.5 Δ"] == pytest.approx(0.4 - 0.605)
    assert one_shot["AP@0.75 paper text"] == "0.4979"
    assert _row(result, "mask-rcnn")["AP@[0.5:0.95] ours"] == pytest.approx(0.1)
    lesions = table1(runs, "quick", ap_variant="per_image/lesions")
    assert _row(lesions, "one-shot-lstm-attention")["AP@0.5 ours"] == pytest.approx(0.2)
    assert "lesion classes only (GGO, consolidation)" in lesions.notes[0]
    with pytest.raises(Exception, match="ap_variant"):
        table1(runs, "quick", ap_variant="per_image/lungs")


def test_missing_runs_are_not_run(runs: Path) -> None:
    result = table1(runs, "quick")
    affinity = _row(result, "one-shot-affinity")
    assert affinity["status"] == NOT_RUN and math.isnan(affinity["AP@0.5 Δ"])
    display = result.display_frame()
    heads_only = display[display["Model"] == "Mask R-CNN (heads only)"].iloc[0]
    assert heads_only["AP@0.5 ours"] == NOT_RUN and heads_only["seed"] == "" and heads_only["n"] == ""
    empty = table2(runs.parent / "nothing", "quick")
    assert (empty.frame.loc[empty.frame["model"].notna(), "status"] == NOT_RUN).all()
    assert "No evaluated runs" in empty.banner


def test_table1_shows_intervals_over_slices_and_marks_runs_that_predate_them(tmp_path: Path) -> None:
    make_run(tmp_path, "one-shot-lstm-attention", segmentation=with_intervals(segmentation(0.4)))
    make_run(tmp_path, "mask-rcnn", segmentation=segmentation(0.3))  # written before per-slice scores were kept
    result = table1(tmp_path, "quick")
    one_shot, mask_rcnn = _row(result, "one-shot-lstm-attention"), _row(result, "mask-rcnn")
    assert (one_shot["AP@0.5 low"], one_shot["AP@0.5 high"]) == pytest.approx((0.38, 0.42))
    assert not one_shot["AP@0.5 no interval"] and mask_rcnn["AP@0.5 no interval"]
    assert math.isnan(mask_rcnn["AP@0.5 low"]) and mask_rcnn["AP@0.5 ours"] == pytest.approx(0.3)
    shown = result.display_frame().set_index("Model")
    assert shown.loc["One Shot Model + LSTM+Attention", "AP@0.5 ours"] == "0.400 (0.380–0.420)"
    assert shown.loc["Mask R-CNN", "AP@0.75 ours"] == f"0.150 {NO_INTERVAL_MARK}"
    assert shown.loc["Mask R-CNN (heads only)", "AP@0.5 ours"] == NOT_RUN
    notes = result.all_notes()
    assert "Ours: bootstrap percentile intervals over the test slices (95 %, 1,000 resamples)" in " ".join(notes)
    assert [note for note in notes if note.startswith(f"{NO_INTERVAL_MARK} no interval: quick-mask-rcnn-s0 was ")]
    # only runs that predate intervals: no note on them; classification tables have no "no interval" column
    old = tmp_path / "old"
    make_run(old, "mask-rcnn", segmentation=segmentation(0.3))
    only_old = table1(old, "quick")
    assert not any(note.startswith("Ours: bootstrap") for note in only_old.all_notes())
    assert not any(column.endswith("no interval") for column in table2(old, "quick").frame)


def test_real_segmentation_table_shows_dice_and_ap_intervals(tmp_path: Path) -> None:
    scores = {**segmentation(0.4), "dice": {"mean_per_image": {"GGO": 0.61, "consolidation": 0.3, "any lesion": 0.72}}}
    make_run(tmp_path, "one-shot-lstm-attention", profile=REAL_DATA_PROFILE, segmentation=with_intervals(scores, 0.05))
    make_run(tmp_path, "mask-rcnn", profile=REAL_DATA_PROFILE, segmentation=scores)
    result = real_segmentation_table(tmp_path, REAL_DATA_PROFILE)
    shown = result.display_frame().set_index("Model")
    one_shot, mask_rcnn = shown.loc["One Shot Model + LSTM+Attention"], shown.loc["Mask R-CNN"]
    assert one_shot["GGO Dice ours"] == "0.610 (0.560–0.660)" and one_shot["AP@0.5 ours"] == "0.200 (0.150–0.250)"
    assert mask_rcnn["Infection Dice ours"] == f"0.720 {NO_INTERVAL_MARK}"
    assert mask_rcnn["AP@[0.5:0.95] ours"] == f"0.067 {NO_INTERVAL_MARK}"
    notes = result.all_notes()
    assert any(note.startswith("Ours: bootstrap percentile intervals over the test slices") for note in notes)
    assert any(note.startswith(f"{NO_INTERVAL_MARK} no interval: {REAL_DATA_PROFILE}-mask-rcnn-s0 ") for note in notes)


def test_table1_flags_a_printed_mean_ap_that_its_own_row_rules_out(runs: Path) -> None:
    """The heads-only row prints AP@[0.5:0.95] = 0.435 with AP@0.5 = 0.444 and AP@0.75 =
    0.379: as AP cannot rise with the IoU threshold, the mean over 0.50-0.95 is at most
    (5 · 0.444 + 5 · 0.379) / 10. The note is computed from the printed values."""
    low, high = ap_mean_bounds(0.444, 0.379)
    assert high == pytest.approx((5 * 0.444 + 5 * 0.379) / 10) and low == pytest.approx((0.444 + 5 * 0.379) / 10)
    flagged = {row.label: row.cell("AP@[0.5:0.95]").note for row in TABLE1.rows if row.cell("AP@[0.5:0.95]").note}
    assert list(flagged) == ["Mask R-CNN (heads only)"]
    assert "0.435" in flagged["Mask R-CNN (heads only)"] and "0.412" in flagged["Mask R-CNN (heads only)"]
    result = table1(runs, "quick")
    shown = result.display_frame().set_index("Model")
    assert shown.loc["Mask R-CNN (heads only)", "AP@[0.5:0.95] paper"] == "0.435 ‡"
    assert shown.loc["Mask R-CNN", "AP@[0.5:0.95] paper"] == "0.387"
    assert [note for note in result.all_notes() if note.startswith("‡")] == [f"‡ {flagged['Mask R-CNN (heads only)']}"]
    assert not any("0.435" in note for note in TABLE1.notes), "the note is generated, not typed into the notes"


def test_table2_quotes_its_caption_about_covid_net_ct2_and_states_the_doubt(runs: Path) -> None:
    result = table2(runs, "quick")
    ct2 = result.frame.set_index("row").loc["COVID-Net CT-2 [29]"]
    assert ct2["status"] == "quoted" and ct2["source"] == QUOTED_CAPTION_SAME_DATA != QUOTED
    notes = result.all_notes()
    assert any(f"\"{TABLE2_CAPTION}\"" in note for note in notes)
    assert TABLE2_CAPTION.endswith("COVID-Net CT-2, DenseNet and ResNet models were trained and evaluated on the "
                                   "same data as our model.")
    assert any(note.startswith("That sentence is in doubt for COVID-Net CT-2") for note in notes)
    assert not any("rows 11-16 are quoted from other publications on other data" in note for note in notes)
    references = next(note for note in notes if note.startswith("Bracketed numbers"))
    assert "[15] Ter-Sarkisov 2021" in references and "[29] Gunraj et al. 2021" in references


def test_table_notes_name_no_file_outside_the_book(runs: Path) -> None:
    """Notes and sources point to the book's pages, never to the shared reference files."""
    for result in all_tables(runs, "quick").values():
        text = " ".join(result.all_notes()) + " ".join(result.frame["source"].fillna("").astype(str))
        assert "TABLES.md" not in text and "REFERENCE_CODE" not in text, result.name


# --------------------------------------------------------------------------- table 2
def test_table2_rows_literature_and_uncertain_cells(real_runs: Path) -> None:
    runs = real_runs
    result = table2(runs, "quick")
    assert len(result.frame) == len(TABLE2.rows) == 16
    one_shot = _row(result, "one-shot-lstm-attention")
    assert one_shot["COVID-19 ours"] == pytest.approx(75.31)
    assert one_shot["COVID-19 low"] == pytest.approx(73.31)
    assert one_shot["COVID-19 Δ"] == pytest.approx(75.31 - 95.74)
    assert one_shot["Negative ours"] == pytest.approx(90.0)
    assert one_shot["F1 Δ"] == pytest.approx(81.23 - 98.15)
    assert _row(result, "classifier-resnet18")["status"] == "evaluated"
    quoted = result.frame[result.frame["source"] == QUOTED]
    assert list(quoted["row"]) == [row.label for row in TABLE2.rows[10:15]]
    assert (result.frame.iloc[10:]["status"] == "quoted").all()
    mask_net = result.frame[result.frame["row"] == "COVID-CT-Mask-Net [23]"].iloc[0]
    assert mask_net["status"] == "quoted" and mask_net["source"].startswith("quoted")
    dre = result.frame[result.frame["row"] == "DRE-Net [25]"].iloc[0]
    assert dre["F1 paper uncertain"] and math.isnan(dre["F1 Δ"])
    display = result.display_frame()
    dre_display = display[display["Model"] == "DRE-Net [25]"].iloc[0]
    assert dre_display["F1 paper"] == "94 †" and dre_display["F1 ours"] == "–" and dre_display["F1 Δ"] == ""
    assert dre_display["COVID-19 paper"] == "–"
    assert "uncertain" in result.to_markdown()


def test_table2_f1_metric_choice(runs: Path) -> None:
    result = table2(runs, "quick", f1_metric="f1_paper_weights")
    assert _row(result, "one-shot-lstm-attention")["F1 ours"] == pytest.approx(80.23)


def test_rows_on_other_data_than_the_papers_show_no_delta(runs: Path) -> None:
    """Phantom (or other non-paper) runs stand beside the paper's values without Δ."""
    result = table2(runs, "quick")
    one_shot = _row(result, "one-shot-lstm-attention")
    assert one_shot["COVID-19 paper"] == pytest.approx(95.74) and one_shot["COVID-19 ours"] == pytest.approx(75.31)
    assert math.isnan(one_shot["COVID-19 Δ"]) and not one_shot["paper_data"]
    assert not result.shows_delta and not any(c.endswith(" Δ") for c in result.display_frame().columns)
    assert any("not comparable" in note for note in result.all_notes())
    assert "evaluated checkpoint(s) best" in result.banner


@pytest.mark.parametrize(("source", "segmentation_source", "classification_delta", "segmentation_delta"), [
    ("covidx", "cncb", True, True),  # the paper's data for both tasks
    ("covidx", "medseg", True, False),  # COVIDx CT-1 classification, MedSeg lesions: Table 1 is not comparable
    ("class-folders", "cncb", False, True),  # other classification slices, CNCB lesions: Table 2 is not comparable
    ("ictcf", "cncb", False, True),  # two-class iCTCF is Table 4's data, not Table 2's
])
def test_delta_is_decided_per_task_by_that_tasks_data(tmp_path: Path, source: str, segmentation_source: str,
                                                      classification_delta: bool, segmentation_delta: bool) -> None:
    make_run(tmp_path, "one-shot-lstm-attention", profile="paper", data=REAL, phantom=False, source=source,
             segmentation_source=segmentation_source, test=ONE_SHOT_TEST, segmentation=segmentation(0.4))
    classification_row, segmentation_row = (_row(table(tmp_path, "paper"), "one-shot-lstm-attention")
                                            for table in (table2, table1))
    assert bool(classification_row["paper_data"]) is classification_delta
    assert math.isnan(classification_row["COVID-19 Δ"]) is not classification_delta
    assert bool(segmentation_row["paper_data"]) is segmentation_delta
    assert math.isnan(segmentation_row["AP@0.5 Δ"]) is not segmentation_delta


def test_records_without_a_segmentation_source_take_it_from_their_config(tmp_path: Path) -> None:
    """Runs recorded before the identity held ``segmentation_source``: their config.yaml
    says it, else (no config) it is CNCB, the default it always had; phantoms are phantoms."""
    medseg = make_run(tmp_path, "one-shot-lstm-attention", profile="paper", data=REAL, phantom=False,
                      test=ONE_SHOT_TEST, segmentation=segmentation(0.4))
    (medseg / "config.yaml").write_text("profile: paper\ndata: {source: covidx, segmentation_source: medseg}\n")
    make_run(tmp_path, "mask-rcnn", profile="paper", data=REAL, phantom=False, segmentation=segmentation(0.3))
    make_run(tmp_path, "one-shot-affinity", profile="paper", segmentation=segmentation(0.3))
    runs = {run.identity.model: run.identity for run in read_runs(tmp_path)}
    assert runs["one-shot-lstm-attention"].segmentation_source == "medseg"
    assert runs["mask-rcnn"].segmentation_source == "cncb"
    assert runs["one-shot-affinity"].segmentation_source == "phantom"
    result = table1(tmp_path, "paper")
    assert math.isnan(_row(result, "one-shot-lstm-attention")["AP@0.5 Δ"])
    assert _row(result, "mask-rcnn")["AP@0.5 Δ"] == pytest.approx(0.3 - 0.502)


def test_phantom_banner(runs: Path) -> None:
    banner = table2(runs, "quick").banner
    assert "PHANTOM DATA" in banner and "NOT a reproduction of the paper" in banner
    assert "quick" in banner and "abcdef123456" in banner and "abcdef1234567" not in banner


def test_real_data_banner_has_no_phantom_warning(tmp_path: Path) -> None:
    make_run(tmp_path, "one-shot-lstm-attention", profile="paper", data=REAL, phantom=False, test=ONE_SHOT_TEST)
    banner = table2(tmp_path, "paper").banner
    assert "PHANTOM" not in banner and REAL in banner and "reduced settings" not in banner


# --------------------------------------------------------------------------- tables 3-4
def test_table3_not_available_then_from_holdout(runs: Path, tmp_path: Path) -> None:
    result = table3(runs, "quick")
    assert not result.available and "NOT AVAILABLE ON THIS DATA" in result.banner and PHANTOM in result.banner
    assert (result.frame["status"] == NOT_AVAILABLE).all()
    assert result.frame["F1 paper"].tolist() == [98.77, 95.75]
    assert "not available" in result.to_markdown()
    real = tmp_path / "real"
    holdout = {**classification(THREE, {"Normal": 0.99, "CP": 0.98, "COVID-19": 0.97}, 0.985), "n": 58782}
    make_run(real, "one-shot-lstm-attention", profile="paper", data=REAL, phantom=False, test=ONE_SHOT_TEST, holdout=holdout)
    result = table3(real, "paper")
    assert result.available
    one_shot = _row(result, "one-shot-lstm-attention")
    assert one_shot["n"] == 58782 and one_shot["F1 Δ"] == pytest.approx(98.5 - 98.77)
    assert _row(result, "one-shot-affinity")["status"] == NOT_AVAILABLE
    assert not any("Phantom stand-in" in note for note in result.notes)


def test_table4_not_run_then_two_class(runs: Path, tmp_path: Path) -> None:
    result = table4(runs, "quick")
    assert not result.available and "NOT RUN" in result.banner
    assert _row(result, "one-shot-lstm-attention")["status"] == NOT_RUN
    vgg = result.frame[result.frame["row"] == "VGG16 [34]"].iloc[0]
    assert vgg["COVID-19 paper uncertain"] and vgg["source"] == QUOTED
    ictcf = tmp_path / "ictcf"
    two = classification(TWO, {"Negative": 0.95, "COVID-19": 0.9}, 0.93)
    make_run(ictcf, "one-shot-lstm-attention", profile="paper", data="iCTCF", phantom=False, source="ictcf", test=two)
    result = table4(ictcf, "paper")
    assert result.available
    row = _row(result, "one-shot-lstm-attention")
    assert row["Negative ours"] == pytest.approx(95.0) and row["COVID-19 Δ"] == pytest.approx(90.0 - 97.73)
    assert _row(table2(ictcf, "paper"), "one-shot-lstm-attention")["status"] == NOT_RUN  # 2-class is not Table 2


def test_phantom_stand_ins_for_tables_3_and_4(runs: Path) -> None:
    """The phantom hold-out split and the two-class phantom variant fill Tables 3-4, labelled."""
    holdout = {**classification(THREE, {"Normal": 0.95, "CP": 0.85, "COVID-19": 0.75}, 0.85), "n": 180}
    make_run(runs, "one-shot-affinity", test=ONE_SHOT_TEST, holdout=holdout)
    two = classification(TWO, {"Negative": 0.97, "COVID-19": 0.88}, 0.93)
    make_run(runs, "one-shot-lstm-attention", variant=TWO_CLASS, test=two, folder="2c")  # identity, not folder name
    make_run(runs, "one-shot-lstm-attention", variant="other-two-class-experiment", test=two)  # not the Table 4 variant
    t3 = table3(runs, "quick")
    assert t3.available and "PHANTOM DATA" in t3.banner
    assert _row(t3, "one-shot-affinity")["F1 ours"] == pytest.approx(85.0)
    assert _row(t3, "one-shot-lstm-attention")["status"] == NOT_AVAILABLE
    assert any("Phantom stand-in" in note and "never saw" in note for note in t3.notes)
    t4 = table4(runs, "quick")
    assert t4.available and "PHANTOM DATA" in t4.banner
    row = _row(t4, "one-shot-lstm-attention")
    assert row["run_id"] == "2c" and row["COVID-19 ours"] == pytest.approx(88.0)
    assert any("CP phantoms are left out" in note for note in t4.notes)
    assert TWO_CLASS not in ablation_table(runs, "quick").frame["row"].tolist()


# --------------------------------------------------------------------------- ablations
def test_ablation_table_delta_vs_default(runs: Path) -> None:
    result = ablation_table(runs, "quick")
    assert list(result.frame["row"]) == ["default"] + [a.variant for a in ABLATIONS]
    assert list(result.frame.columns[:4]) == ["row", "model", "variant", "source"]
    roi = result.frame[result.frame["row"] == "roi_order=confidence"].iloc[0]
    assert roi["status"] == "variant" and roi["variant"] == "roi_order=confidence"
    assert roi["F1 Δ"] == pytest.approx(2.0) and roi["COVID-19 Δ"] == pytest.approx(5.0)
    assert roi["AP@0.5 Δ"] == pytest.approx(0.05)
    assert result.delta("roi_order=confidence", "F1") == pytest.approx(2.0)
    assert math.isnan(result.delta("loss_scheme=alternating", "F1")) and math.isnan(result.delta("made_up=1", "F1"))
    assert (result.frame.iloc[2:]["status"] == NOT_RUN).all()
    display = result.display_frame()
    assert display.loc[1, "F1 Δ vs default"] == "+2.00" and display.loc[1, "AP@0.5 Δ vs default"] == "+0.050"
    assert "code difference 3 on the page 'The authors' code'" in display.loc[1, "Source"]
    custom = ablation_table(runs, "quick", ["roi_order=confidence", "made_up=1"])
    assert list(custom.frame["row"]) == ["default", "roi_order=confidence", "made_up=1"]
    assert custom.frame["source"].iloc[2] == ""


def test_ideas_table_names_the_idea_each_variant_takes_out(runs: Path) -> None:
    make_run(runs, "one-shot-lstm-attention", variant="attention_pooling=mean", segmentation=segmentation(0.3),
             test=classification(THREE, {"Normal": 0.9, "CP": 0.8, "COVID-19": 0.7}, 0.7))
    result = ablation_table(runs, "quick", IDEAS)
    assert result.name == "ablation_ideas" and "the paper's ideas" in result.title
    assert list(result.frame["row"]) == ["default"] + [idea.variant for idea in IDEAS]
    mean = result.frame.set_index("row").loc["attention_pooling=mean"]
    assert mean["status"] == "variant" and mean["F1 Δ"] == pytest.approx(70.0 - 81.23)
    assert mean["source"].startswith("instead of attention weights α") and "Eq. 4-5" in mean["source"]
    assert any("takes one of the paper's own ideas out" in note for note in result.notes)
    assert "published code" in ablation_table(runs, "quick").notes[0]


def test_seed_noise_summary_marks_effects_beyond_the_seed_range(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    f1 = {None: (80.0, 82.0, 84.0), "roi_order=confidence": (70.0, 71.0, 72.0), "sieve_order=reference": (79.0, 83.0, 90.0)}
    for variant, values in f1.items():
        for seed, value in enumerate(values):
            make_run(root, "one-shot-lstm-attention", seed=seed, variant=variant, segmentation=segmentation(0.4),
                     test=classification(THREE, {"Normal": 0.9, "CP": 0.9, "COVID-19": 0.9}, value / 100))
    make_run(root, "one-shot-lstm-attention", seed=7, test=classification(THREE, {"COVID-19": 0.1}, 0.1))  # other seed
    table = ablation_table(root, "quick", ["roi_order=confidence", "sieve_order=reference", "weight_copy_policy=previous"],
                           seed=[0, 1, 2])
    assert len(table.frame[table.frame["row"] == "default"]) == 3
    summary = seed_noise_summary(table).set_index("arm")
    assert summary.loc["default", "seeds"] == "0, 1, 2" and summary.loc["default", "F1 mean"] == pytest.approx(82.0)
    assert summary.loc["default", "F1 range"] == "80.00–84.00" and summary.loc["default", "F1 beyond seed noise"] == ""
    assert summary.loc["roi_order=confidence", "F1 Δ mean"] == pytest.approx(-11.0)
    assert summary.loc["roi_order=confidence", "F1 beyond seed noise"] == "yes"
    assert summary.loc["sieve_order=reference", "F1 beyond seed noise"] == "no"  # ranges overlap
    assert summary.loc["roi_order=confidence", "AP@0.5 beyond seed noise"] == "no"  # equal AP on every seed
    assert effects_beyond_noise(summary.reset_index()) == ["roi_order=confidence (F1)"]
    one_seed = seed_noise_summary(ablation_table(root, "quick", ["roi_order=confidence"], seed=0)).set_index("arm")
    assert one_seed.loc["roi_order=confidence", "F1 beyond seed noise"] == "1 seed"


def test_seed_noise_summary_without_any_run_has_no_effects(tmp_path: Path) -> None:
    summary = seed_noise_summary(ablation_table(tmp_path / "no-runs", "quick", seed=[0, 1, 2]))
    assert summary.empty and {"arm", "seeds", "F1 beyond seed noise"} <= set(summary.columns)
    assert effects_beyond_noise(summary) == []


def test_ablation_variant_comes_from_the_record_not_the_folder(runs: Path) -> None:
    make_run(runs, "one-shot-lstm-attention", variant="sieve_order=reference", folder="my-renamed-run",
             test=classification(THREE, {"Normal": 0.9, "CP": 0.8, "COVID-19": 0.7}, 0.7))
    row = ablation_table(runs, "quick").frame.set_index("row").loc["sieve_order=reference"]
    assert row["status"] == "variant" and row["run_id"] == "my-renamed-run"
    assert row["F1 Δ"] == pytest.approx(70.0 - 81.23)


# --------------------------------------------------------------------------- writing
def _markdown_rows(text: str) -> dict[str, dict[str, str]]:
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    header = [cell.strip() for cell in lines[0].strip("|").split(" | ")]
    return {cells[0]: dict(zip(header, cells)) for cells in
            ([cell.strip() for cell in line.strip("|").split(" | ")] for line in lines[1:])}


def test_write_table_csv_and_markdown_match_json(real_runs: Path, tmp_path: Path) -> None:
    runs = real_runs
    result = table2(runs, "quick")
    paths = write_table(result, tmp_path / "out")
    assert paths["csv"].name == "table2.csv" and paths["markdown"].name == "table2.md"
    text = paths["markdown"].read_text()
    assert text.splitlines()[0] == result.banner
    assert text.splitlines()[2] == f"**{result.title}**"
    rows = _markdown_rows(text)
    one_shot = rows["One Shot Model + LSTM+Attention"]
    metric = ONE_SHOT_TEST["metrics"]["sensitivity/COVID-19"]
    expected = f"{100 * metric['estimate']:.2f} ({100 * metric['low']:.2f}–{100 * metric['high']:.2f})"
    assert one_shot["COVID-19 ours"] == expected == "75.31 (73.31–77.31)"
    assert one_shot["COVID-19 paper"] == "95.74"
    assert one_shot["COVID-19 Δ"] == "-20.43"
    assert one_shot["seed"] == "0" and one_shot["commit"] == "abcdef123456"
    assert re.fullmatch(r"\d+\.\d\d \(\d+\.\d\d–\d+\.\d\d\)", one_shot["F1 ours"])
    assert rows["ResNet34"]["F1 ours"] == NOT_RUN
    assert rows["COVID-CT-Mask-Net [23]"]["F1 paper"] == "91.50"  # printed digits, not re-parsed numbers
    assert f"- {TABLE2.notes[0]}" in text.splitlines()
    csv = pd.read_csv(paths["csv"])
    assert len(csv) == 16
    assert csv.loc[csv["model"] == "one-shot-lstm-attention", "F1 ours"].item() == pytest.approx(81.23)

    table = write_table(table1(runs, "quick"), tmp_path / "out", "table1")
    # a segmentation file written before per-slice scores: the value, marked, with the note saying why
    assert _markdown_rows(table["markdown"].read_text())["Mask R-CNN"]["AP@0.5 ours"] == f"0.300 {NO_INTERVAL_MARK}"
    assert f"- {NO_INTERVAL_MARK} no interval: " in table["markdown"].read_text()
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no temporary files left


def test_html_rendering(runs: Path) -> None:
    result = table2(runs, "quick")
    html = result._repr_html_()
    assert "PHANTOM DATA" in html and '<table border="1" class="dataframe">' in html
    assert f"<p><b>{result.title}</b></p>\n<table" in html  # the title is the table's previous sibling
    assert "data" not in result.display_frame(compact=True).columns
    assert result.styler() is not None
    assert result.ours("one-shot-lstm-attention", "COVID-19") == pytest.approx(75.31)
    assert math.isnan(result.ours("classifier-densenet121", "F1"))


def test_all_tables(runs: Path) -> None:
    tables = all_tables(runs, "quick", seed=0)
    assert list(tables) == ["table1", "table1_lesions", "table2", "table3", "table4", "ablations", "ablation_ideas"]
    assert tables["table1_lesions"].title.endswith("[per_image/lesions]")
    assert all_tables(runs, "quick", seed=1)["table2"].frame["run_id"].isna().all()


def test_confusion_frames(runs: Path) -> None:
    frames = confusion_frames(runs, "quick", ["one-shot-lstm-attention", "classifier-resnet18", "one-shot-affinity"])
    assert list(frames) == ["quick-one-shot-lstm-attention-s0", "quick-classifier-resnet18-s0"]
    frame = frames["quick-one-shot-lstm-attention-s0"]
    assert list(frame.index) == list(THREE) and frame.loc["CP", "CP"] == 10
    assert frame.index.name == "true" and frame.columns.name == "predicted"


def test_cli_tables(runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "tables"
    assert main(["tables", "--runs", str(runs), "--profile", "quick", "--out", str(out)]) == 0
    names = {p.name for p in out.iterdir()}
    for name in ("table1", "table1_lesions", "table2", "table3", "table4", "ablations", "ablation_ideas"):
        assert {f"{name}.csv", f"{name}.md"} <= names
    assert main(["tables", "--runs", str(tmp_path / "missing")]) == 2


def test_bad_result_file_is_skipped_with_a_warning_naming_it(runs: Path) -> None:
    bad = runs / "quick-mask-rcnn-s0" / "results" / "segmentation_test.json"
    bad.write_text("{not json")
    with pytest.warns(UserWarning, match="segmentation_test.json"):
        result = table1(runs, "quick")
    assert _row(result, "mask-rcnn")["status"] == NOT_RUN
    assert _row(result, "one-shot-lstm-attention")["status"] == "evaluated"


def test_table2_notes_when_input_sizes_differ(runs: Path) -> None:
    from lstmattn.config import get_profile, save_config

    assert not any("Input sizes differ" in note for note in table2(runs, "quick").notes)  # no configs: no claim
    quick = get_profile("quick")  # one-shot at model.image_size, classifiers at model.classifier_image_size
    for run_id in ("quick-one-shot-lstm-attention-s0", "quick-classifier-resnet18-s0"):
        save_config(quick, runs / run_id / "config.yaml")
    notes = [note for note in table2(runs, "quick").notes if "Input sizes differ" in note]
    size, small = quick.model.image_size, quick.model.classifier_image_size
    assert notes and f"{small}² for classifier-resnet18" in notes[0] and f"{size}² for one-shot-lstm-attention" in notes[0]


# --------------------------------------------------------------------------- notebooks
@pytest.mark.parametrize("name", ["03_segmentation.ipynb", "04_classification.ipynb", "05_ablations.ipynb"])
def test_chapter_glues_every_value_its_text_references(name: str) -> None:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    code = "".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    glued = set(re.findall(r'glue\("([^"]+)"', code))
    referenced = set(re.findall(r"\{glue:text\}`([^:`]+)", "".join(c.source for c in notebook.cells if c.cell_type == "markdown")))
    assert referenced and referenced <= glued


# --------------------------------------------------------------------------- claims
def test_claims_compare_seed_ranges_and_say_when_they_cannot(tmp_path: Path) -> None:
    from lstmattn.tables.claims import arm_values, best_of, compare_sentence, verdict

    root = tmp_path / "runs"
    for seed, (ours, plain) in enumerate(((0.90, 0.80), (0.92, 0.81), (0.91, 0.95))):
        make_run(root, "one-shot-lstm-attention", seed=seed, test=classification(THREE, {"COVID-19": 0.9}, ours))
        make_run(root, "classifier-resnet18", seed=seed, test=classification(THREE, {"COVID-19": 0.9}, plain))
    make_run(root, "classifier-resnet34", seed=0, test=classification(THREE, {"COVID-19": 0.9}, 0.70))
    make_run(root, "one-shot-lstm-attention", seed=0, variant="roi_order=confidence",
             test=classification(THREE, {"COVID-19": 0.9}, 0.10))  # a variant never joins the default arm
    ours = arm_values(root, "quick", "one-shot-lstm-attention", "F1")
    assert ours.seeds == (0, 1, 2) and ours.values == pytest.approx((90.0, 92.0, 91.0))
    assert ours.describe(2) == "91.00 (90.00–92.00, 3 seeds)"
    plain = arm_values(root, "quick", "classifier-resnet18", "F1")
    assert verdict(ours, plain) == "within the seed noise"  # 80-95 overlaps 90-92
    assert verdict(arm_values(root, "quick", "one-shot-lstm-attention", "F1", seeds=[0, 1]),
                   arm_values(root, "quick", "classifier-resnet18", "F1", seeds=[0, 1])) == "ahead"
    low = arm_values(root, "quick", "classifier-resnet34", "F1")
    assert verdict(ours, low) == "ahead" and verdict(low, ours) == "behind"
    one = arm_values(root, "quick", "one-shot-lstm-attention", "F1", seeds=[0])
    assert verdict(one, low) == "one run each" and "seed noise is unknown" in compare_sentence(one, low, 2)
    missing = arm_values(root, "quick", "classifier-densenet121", "F1")
    assert verdict(ours, missing) == "not run" and missing.describe(2) == "not run"
    assert "is ahead beyond the seed noise" in compare_sentence(ours, low, 2)
    assert best_of([low, plain, missing]) == plain and best_of([missing]) is None


def test_seed_rows_put_each_run_of_a_model_beside_the_spread_over_seeds(tmp_path: Path) -> None:
    for seed, ap50 in ((0, 0.6), (1, 0.7), (2, 0.65), (3, 0.99)):
        make_run(tmp_path, ONE_SHOT, seed=seed, segmentation=with_intervals(segmentation(ap50)))
    make_run(tmp_path, "mask-rcnn", seed=1, segmentation=with_intervals(segmentation(0.8)))
    seeds = table1(tmp_path, "quick", seed=None).seed_rows(ONE_SHOT, [0, 1, 2], tmp_path)
    assert list(seeds.frame["seed"]) == [0, 1, 2] and set(seeds.frame["model"]) == {ONE_SHOT}
    assert seeds.title.startswith("Table 1:") and seeds.title.endswith(f"{ONE_SHOT} under seeds 0, 1, 2 [per_image/all_classes]")
    assert "3 run(s); seed(s) 0, 1, 2;" in seeds.banner
    assert seeds.all_notes()[0].startswith("Range of the estimates over the 3 seeds: AP@0.5 0.600–0.700;")
    shown = seeds.display_frame()["AP@0.5 ours"].tolist()
    assert shown == ["0.600 (0.580–0.620)", "0.700 (0.680–0.720)", "0.650 (0.630–0.670)"]
    alone = table1(tmp_path, "quick", seed=None).seed_rows("mask-rcnn", [0, 1, 2], tmp_path)
    assert len(alone.frame) == 1 and alone.all_notes()[0] == "Only one seed was run, so the seed noise is unknown here."
