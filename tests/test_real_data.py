"""Chapter 7's real data: folder-per-class slices, split lists, MedSeg as a segmentation
source, the real-data profile and plan, its tables, and ``evaluate --data``."""

from __future__ import annotations

import math
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from conftest import tiny_model_config
from lstmattn.cli import main
from lstmattn.config import ExperimentConfig, from_dict, get_profile, load_config, save_config, with_real_data
from lstmattn.data.class_folders import ClassFolderDataset, scan_class_folders
from lstmattn.data.split_lists import draw_split, ensure_split_lists
from lstmattn.data.verify import detect_manifest, verify_dataset
from lstmattn.engine.datasets import build_data
from lstmattn.engine.folder_evaluation import evaluate_folder, split_name
from lstmattn.engine.plan import (
    CHAPTER_RUNS,
    MEDSEG_ALONE_EPOCH_SCALE,
    REAL_DATA_PROFILE,
    needs_real_data,
    on_real_data,
    plan_experiment,
)
from lstmattn.engine.runs import RunDirectory
from lstmattn.engine.trainer import train
from lstmattn.errors import ConfigError, DataError, LstmattnError
from lstmattn.labels import ONE_SHOT
from lstmattn.metrics import roc_auc, roc_auc_ci
from lstmattn.results import read_run
from lstmattn.tables import real_classification_table, real_segmentation_table
from result_fixtures import COMMIT, TWO, classification, interval, make_run, segmentation

COVID_NAMES = ("Covid (12).png", "Covid (100).png")
OTHER_NAMES = ("Non-Covid (2).png", "Non-Covid (3).png")


def _class_folders(sample_data: Path, root: Path) -> Path:
    """Two real slices per class, plus an RGBA copy of one (the loader converts it)."""
    for folder, names in (("COVID", COVID_NAMES), ("non-COVID", OTHER_NAMES)):
        (root / folder).mkdir(parents=True)
        for name in names:
            shutil.copy(sample_data / "sarscov2-ct" / folder / name, root / folder / name)
    grey = np.asarray(Image.open(root / "COVID" / COVID_NAMES[0]))
    Image.fromarray(np.dstack([grey, grey, grey, np.full_like(grey, 255)]), "RGBA").save(root / "COVID" / "rgba.png")
    return root


def test_class_folders_label_by_folder_and_read_rgba_as_grey(sample_data: Path, tmp_path: Path) -> None:
    root = _class_folders(sample_data, tmp_path / "set")
    records = scan_class_folders(root, ("non-COVID", "COVID"))
    assert [label for _, label in records] == [0, 0, 1, 1, 1]
    assert records[2] == ("COVID/Covid (12).png", 1) and records[3][0] == "COVID/Covid (100).png"  # natural order
    dataset = ClassFolderDataset(root, records, image_size=64)
    image, target = dataset[4]
    reference, _ = dataset[2]
    assert image.shape == (3, 64, 64) and target["file"] == "COVID/rgba.png" and int(target["image_label"]) == 1
    assert np.allclose(image.numpy(), reference.numpy(), atol=1 / 255)
    with pytest.raises(DataError, match="class folder normal/ not found"):
        scan_class_folders(root, ("normal", "COVID"))


def test_split_is_seeded_stratified_and_written_once(tmp_path: Path) -> None:
    names = [(f"a{i}.png", 0) for i in range(50)] + [(f"b{i}.png", 1) for i in range(30)]
    fractions = {"train": 0.7, "val": 0.1, "test": 0.2}
    drawn = draw_split(names, fractions, seed=3)
    assert draw_split(names, fractions, seed=3) == drawn and draw_split(names, fractions, seed=4) != drawn
    assert [len(drawn[s]) for s in fractions] == [56, 8, 16]
    assert sum(name.startswith("b") for name in drawn["test"]) == 6  # 20 % of each class
    assert sorted(sum(drawn.values(), [])) == sorted(name for name, _ in names)
    lists = ensure_split_lists(tmp_path / "lists", names, fractions, 3)
    assert lists.path("test").read_text().splitlines() == drawn["test"]
    record = lists.record(dict(names))
    assert record["splits"]["val"]["per_class"] == {0: 5, 1: 3} and len(record["splits"]["val"]["sha256"]) == 64
    lists.path("val").write_text("a1.png\n")
    with pytest.raises(DataError, match="differs from the seeded draw"):
        ensure_split_lists(tmp_path / "lists", names, fractions, 3)


def test_real_quick_profile_builds_the_documented_splits(sample_data: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("LSTMATTN_DATA_CACHE", str(tmp_path / "cache"))
    config = with_real_data(get_profile("real-quick"), sample_data)
    assert config.profile == "real-quick" and config.model.num_image_classes == 2
    assert (config.data.source, config.data.segmentation_source) == ("class-folders", "medseg")
    save_config(config, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == config
    data = build_data(replace(config, model=replace(config.model, image_size=64)), progress=False)
    sizes = [len(d) for d in (data.classification_train, data.classification_val, data.classification_test,
                              data.segmentation_train, data.segmentation_test)]
    assert sizes == [700, 100, 200, 35, 15] and not data.is_phantom
    assert data.record["splits"]["splits"]["test"]["per_class"] == {0: 100, 1: 100}
    assert data.record["segmentation_splits"]["splits"]["test"]["lines"] == 15
    image, target = data.segmentation_test[0]
    assert image.shape == (3, 64, 64) and set(target["labels"].tolist()) <= {2, 3}
    again = build_data(replace(config, model=replace(config.model, image_size=64)), progress=False)
    assert again.record == data.record


def test_data_config_checks_the_new_fields() -> None:
    with pytest.raises(ConfigError, match="data.split_fractions must give train, val, test shares that sum to 1"):
        from_dict(ExperimentConfig, {"data": {"split_fractions": {"train": 0.5, "val": 0.1, "test": 0.1}}})
    with pytest.raises(ConfigError, match="data.segmentation_source must be one of"):
        from_dict(ExperimentConfig, {"data": {"segmentation_source": "lungs"}})
    phantom_medseg = replace(get_profile("quick"), data=replace(get_profile("quick").data, segmentation_source="medseg"))
    with pytest.raises(ConfigError, match="segmentation_source must be 'cncb'"):
        build_data(phantom_medseg, progress=False)


def test_manifests_verify_the_real_sets_and_catch_a_changed_file(sample_data: Path, tmp_path: Path) -> None:
    assert detect_manifest(sample_data / "sarscov2-ct") == "sarscov2-ct"
    report = verify_dataset(sample_data / "sarscov2-ct", progress=False)
    assert report.ok and "content SHA-256 over 1,000 files matches" in report.checked, report.summary()
    medseg = tmp_path / "medseg"
    shutil.copytree(sample_data / "medseg-semiseg/train", medseg)
    assert verify_dataset(medseg, progress=False).ok
    Image.open(medseg / "Imgs" / "0.jpg").transpose(Image.FLIP_LEFT_RIGHT).save(medseg / "Imgs" / "0.jpg")
    report = verify_dataset(medseg, progress=False)
    assert [problem.kind for problem in report.problems] == ["content"]


def test_real_data_plan_uses_its_profile_with_the_books_seed_steps_and_epochs(sample_data: Path) -> None:
    assert needs_real_data(7) and not needs_real_data(3)
    labels = [planned.label for planned in CHAPTER_RUNS[7]]
    assert labels[0] == f"{REAL_DATA_PROFILE}/{ONE_SHOT}" and len(labels) == 5
    base = replace(get_profile("quick"), train=replace(get_profile("quick").train, seed=4, max_steps=2))
    assert plan_experiment(base, on_real_data(ONE_SHOT)) is None
    experiment = plan_experiment(base, on_real_data(ONE_SHOT), real_data=sample_data)
    config = experiment.config
    assert experiment.run_id == f"{REAL_DATA_PROFILE}-{ONE_SHOT}-s4" and config.train.max_steps == 2
    assert config.data.root == str((sample_data / "sarscov2-ct").resolve())
    assert config.train.epochs == get_profile(REAL_DATA_PROFILE).train.epochs
    # Mask R-CNN alone sees as many MedSeg slices as the one-shot model does (700 training slices, 35 MedSeg).
    train_ = get_profile(REAL_DATA_PROFILE).train
    one_shot_slices = train_.epochs * math.ceil(700 / train_.classification_batch_size) * train_.segmentation_batch_size
    assert MEDSEG_ALONE_EPOCH_SCALE * train_.epochs == round(one_shot_slices / 35)
    mask_rcnn = plan_experiment(base, CHAPTER_RUNS[7][2], real_data=sample_data).config
    assert (mask_rcnn.model_name, mask_rcnn.train.max_steps) == ("mask-rcnn", 2)
    assert mask_rcnn.train.epochs == MEDSEG_ALONE_EPOCH_SCALE * train_.epochs
    # The book's --epochs reaches these runs too, Mask R-CNN's in proportion.
    shorter = {run.label: plan_experiment(base, run, real_data=sample_data, epochs=2).config for run in CHAPTER_RUNS[7]}
    assert shorter[CHAPTER_RUNS[7][0].label].train.epochs == 2
    assert shorter[CHAPTER_RUNS[7][2].label].train.epochs == 2 * MEDSEG_ALONE_EPOCH_SCALE


def test_missing_real_data_renders_a_page_saying_what_is_needed(tmp_path: Path) -> None:
    import nbformat

    from lstmattn.book.build import run_chapter

    page = run_chapter(7, out=tmp_path, cwd=tmp_path)
    cells = nbformat.read(page, as_version=4).cells
    text = "\n".join(cell.source for cell in cells)
    assert cells[0].source.startswith("# 7.") and all(cell.cell_type == "markdown" for cell in cells)
    assert "lstmattn data verify" in text and "sarscov2-ct" in text and "REAL_DATA" in text


def test_roc_auc_counts_ties_as_half_and_has_an_interval() -> None:
    labels, scores = np.array([0, 0, 1, 1, 1]), np.array([0.1, 0.5, 0.5, 0.8, 0.9])
    assert roc_auc(labels, scores) == pytest.approx((2 + 2 + 1.5) / 6)
    interval_ = roc_auc_ci(labels, scores, n_resamples=200, seed=1)
    assert interval_.low <= interval_.estimate <= interval_.high <= 1.0
    assert np.isnan(roc_auc([1, 1], [0.2, 0.3]))


def test_real_tables_show_published_values_and_targets(tmp_path: Path) -> None:
    def two_class(f1: float) -> dict:
        result = classification(TWO, {"Negative": f1, "COVID-19": f1}, f1)
        result["metrics"].update({"precision/Negative": interval(f1), "precision/COVID-19": interval(f1), "auc": interval(0.99)})
        return result

    real = "sarscov2-ct slices + MedSeg lesion masks"
    make_run(tmp_path, ONE_SHOT, profile=REAL_DATA_PROFILE, data=real, phantom=False, test=two_class(0.96),
             segmentation={**segmentation(0.4), "dice": {"mean_per_image": {"GGO": 0.61, "consolidation": 0.3,
                                                                             "any lesion": 0.72}}})
    make_run(tmp_path, "classifier-resnet18", profile=REAL_DATA_PROFILE, data=real, phantom=False, test=two_class(0.97))
    make_run(tmp_path, ONE_SHOT, data="phantoms", test=two_class(0.5))  # another profile: not shown
    table = real_classification_table(tmp_path, REAL_DATA_PROFILE)
    assert list(table.frame["model"]) == [ONE_SHOT, "classifier-resnet18"]
    assert table.ours(ONE_SHOT, "F1") == pytest.approx(96.0) and table.ours(ONE_SHOT, "AUC") == pytest.approx(99.0)
    shown = table.display_frame()
    assert {"F1 published", "F1 ours", "AUC ours"} <= set(shown) and "AUC published" not in shown
    # Published on other splits under other protocols: side by side, never subtracted.
    assert shown.loc[0, "F1 published"] == "97.31" and list(shown).index("F1 ours") == list(shown).index("F1 published") + 1
    assert not any("Δ" in column for column in shown) and not any("Δ" in note for note in table.all_notes())
    assert table.frame["F1 Δ"].isna().all()
    notes = " ".join(table.notes)
    assert "F1 >= 95.00 %: reached (measured 96.00 %)" in notes and "best classifier" in notes and "NOT reached" in notes
    assert "no patient ids" in notes and COMMIT[:12] in table.banner
    lesions = real_segmentation_table(tmp_path, REAL_DATA_PROFILE)
    assert lesions.ours(ONE_SHOT, "GGO Dice") == pytest.approx(0.61)
    shown = lesions.display_frame()
    assert shown.loc[0, "GGO Dice published"] == "0.646" and not any("Δ" in column for column in shown)
    notes = " ".join(lesions.notes)
    assert "GGO Dice >= 0.60: reached" in notes and "Consolidation Dice >= 0.35: NOT reached (measured 0.300)" in notes
    assert "48-slice" in notes


@pytest.fixture(scope="module")
def tiny_real_run(tmp_path_factory: pytest.TempPathFactory, sample_data: Path) -> RunDirectory:
    """A two-class one-shot model trained for one step on the real sample data (64²)."""
    folder = tmp_path_factory.mktemp("real-run")
    config = with_real_data(get_profile("real-quick"), sample_data)
    config = replace(config, model=tiny_model_config(num_image_classes=2),
                     train=replace(config.train, max_steps=1, segmentation_batch_size=1, classification_batch_size=2))
    run = RunDirectory(folder / "run")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LSTMATTN_DATA_CACHE", str(folder / "cache"))
        data = build_data(config, progress=False)
    data.classification_val = ClassFolderDataset(data.classification_val.root, data.classification_val.records[:2],
                                                 image_size=64)
    train(config, run, data=data, progress=False, device="cpu")
    return run


def test_evaluate_data_scores_class_folders_covidx_lists_and_medseg(tiny_real_run: RunDirectory, sample_data: Path,
                                                                    tmp_path: Path, capsys) -> None:
    folders = _class_folders(sample_data, tmp_path / "held-out")
    assert main(["evaluate", str(tiny_real_run.path), "--data", str(folders), "--bootstrap", "20", "--no-progress"]) == 0
    results = read_run(tiny_real_run.path)
    held_out = results.classification["held-out"]
    assert held_out.n == 5 and held_out.class_names == TWO and "auc" in held_out.metrics
    assert "held-out_metrics" in capsys.readouterr().out

    covidx = tmp_path / "covidx"
    (covidx / "images").mkdir(parents=True)
    lines = (sample_data / "covidx-ct-sample" / "labels.txt").read_text().splitlines()
    picked = [line for line in lines if line.split()[1] in ("0", "2")][:2] + [line for line in lines if line.split()[1] == "1"][:1]
    for line in picked:
        shutil.copy(sample_data / "covidx-ct-sample" / "images" / line.split()[0], covidx / "images")
    (covidx / "labels.txt").write_text("\n".join(picked) + "\n")
    written = evaluate_folder(tiny_real_run, covidx, out=tmp_path / "out", n_resamples=20, progress=False)
    assert sorted(path.name for path in written.values()) == ["covidx_metrics.json", "covidx_predictions.csv"]
    assert yaml.safe_load((tmp_path / "out" / "covidx_metrics.json").read_text())["n"] == 2  # CP left out

    medseg = sample_data / "medseg-semiseg" / "train"
    assert split_name(medseg) == "medseg-semiseg-train"
    evaluate_folder(tiny_real_run, medseg, progress=False)
    scored = read_run(tiny_real_run.path).segmentation_splits["medseg-semiseg-train"]
    assert scored.n == 50 and "per_image/lesions" in scored.ap

    with pytest.raises(LstmattnError, match="not a labelled folder"):
        evaluate_folder(tiny_real_run, tmp_path / "out", progress=False)
