"""Manifests, `lstmattn data verify` and `lstmattn data prepare` (library and CLI)."""

from __future__ import annotations

import shutil
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from lstmattn.cli import main
from lstmattn.data.manifests import available_manifests, file_sha256, load_manifest
from lstmattn.data.prepare import DERIVED_SPLITS_FILE, prepare_covidx_subsets
from lstmattn.data.verify import verify_dataset
from lstmattn.errors import DataError

CT1 = ("train_COVIDx_CT-1.txt", "val_COVIDx_CT-1.txt", "test_COVIDx_CT-1.txt")


def test_manifests_load() -> None:
    assert {"covidx-ct-1", "cncb-segmentation", "ictcf", "medseg-semiseg", "covidx-ct-sample"} <= set(available_manifests())
    for name in available_manifests():
        manifest = load_manifest(name)
        assert manifest.name == name and manifest.sources and manifest.licence
    ictcf = load_manifest("ictcf")
    assert ictcf.splits["test"].per_class == {0: 9275, 1: 3701} and ictcf.splits["test"].sha256 is None


def test_official_ct1_lists_match_manifest(sample_data: Path) -> None:
    report = verify_dataset(sample_data / "covidx-ct-splits", check_images=False, progress=False)
    assert report.manifest == "covidx-ct-1" and report.ok, report.summary()
    assert sum("SHA-256 matches" in line for line in report.checked) == 3


def test_sample_data_sets_verify_with_images(sample_data: Path) -> None:
    for folder, name in (("covidx-ct-sample", "covidx-ct-sample"), ("medseg-semiseg/train", "medseg-semiseg")):
        report = verify_dataset(sample_data / folder, progress=False)
        assert report.manifest == name and report.ok, report.summary()


def test_changed_list_is_caught(sample_data: Path, tmp_path: Path) -> None:
    for name in CT1:
        shutil.copy(sample_data / "covidx-ct-splits" / name, tmp_path)
    lines = (tmp_path / CT1[2]).read_text().splitlines(keepends=True)
    (tmp_path / CT1[2]).write_text("".join(lines[1:]))
    report = verify_dataset(tmp_path, "covidx-ct-1", check_images=False)
    text = report.summary()
    assert not report.ok and "SHA-256" in text and "21,190 lines, manifest expects 21,191" in text


def _broken_covidx_root(sample_data: Path, root: Path) -> Path:
    images = root / "images"
    images.mkdir(parents=True)
    source = sample_data / "covidx-ct-sample/images"
    for name in ("COVIDCTMD-P001-IM0027.png", "COVIDCTMD-P001-IM0028.png"):
        shutil.copy(source / name, images)
    data = (source / "COVIDCTMD-P001-IM0029.png").read_bytes()
    (images / "truncated.png").write_bytes(data[: len(data) // 3])
    (root / "labels.txt").write_text(
        "COVIDCTMD-P001-IM0027.png 2 0 116 512 409\n"
        "COVIDCTMD-P001-IM0028.png 2 0 116 600 409\n"   # box wider than the 512-px image
        "truncated.png 2 0 0 512 512\n"
        "gone.png 0 0 0 512 512\n"
        "bad line here\n"
    )
    manifest = {
        "name": "broken", "title": "test", "citation": "-", "licence": "-", "sources": [],
        "layout": {"image_dir": ["images"]},
        "splits": {"all": {"file": "labels.txt", "lines": 6, "per_class": {0: 1, 2: 3}, "sha256": "0" * 64}},
    }
    (root / "broken.yaml").write_text(yaml.safe_dump(manifest))
    return root / "broken.yaml"


def test_verify_reports_every_problem_at_once(sample_data: Path, tmp_path: Path) -> None:
    manifest = _broken_covidx_root(sample_data, tmp_path)
    report = verify_dataset(tmp_path, manifest, progress=False)
    kinds = sorted(p.kind for p in report.problems)
    assert kinds == ["count", "malformed line", "missing", "split file", "unreadable", "wrong size"]
    text = report.summary()
    for expected in (f"{tmp_path / 'labels.txt'}:5: expected 6 fields", "gone.png: listed but not found",
                     "truncated.png: cannot decode", "IM0028.png: 512x512 image, but the body box",
                     "5 lines, manifest expects 6", "differs from the manifest"):
        assert expected in text


def test_verify_checks_masks(tmp_path: Path) -> None:
    (tmp_path / "imgs").mkdir()
    (tmp_path / "masks").mkdir()
    for stem, value, size in (("0_1", 2, 16), ("0_2", 9, 16), ("0_3", 1, 12)):
        Image.fromarray(np.zeros((16, 16), dtype=np.uint8)).save(tmp_path / "imgs" / f"{stem}.jpg")
        Image.fromarray(np.full((size, size), value, dtype=np.uint8)).save(tmp_path / "masks" / f"{stem}.png")
    Image.fromarray(np.zeros((16, 16), dtype=np.uint8)).save(tmp_path / "imgs" / "0_4.jpg")
    (tmp_path / "train_split_segmentation.txt").write_text("0_1.jpg\n0_2.jpg\n0_3.jpg\n0_4.jpg\n")
    (tmp_path / "test_split_segmentation.txt").write_text("")
    report = verify_dataset(tmp_path, "cncb-segmentation", progress=False)
    text = report.summary(max_per_kind=None)
    assert "0_2.png: mask values [9] not in [0, 1, 2, 3]" in text
    assert "0_3.png: mask is 12x12, image 0_3.jpg is 16x16" in text
    assert "0_4.png: mask of 0_4.jpg not found" in text
    assert "4 lines, manifest expects 650" in text


def test_cli_verify_exits_nonzero_without_traceback(sample_data: Path, tmp_path: Path, capsys) -> None:
    manifest = _broken_covidx_root(sample_data, tmp_path)
    assert main(["data", "verify", str(tmp_path), "--manifest", str(manifest)]) == 1
    err = capsys.readouterr().err
    assert "PROBLEMS: 6" in err and "gone.png" in err and "Traceback" not in err
    assert main(["data", "verify", str(tmp_path / "nowhere")]) == 2
    assert "lstmattn: error: " in capsys.readouterr().err
    assert main(["data", "verify", str(sample_data / "covidx-ct-splits"), "--no-check-images"]) == 0


def test_prepare_writes_documented_lists(sample_data: Path, tmp_path: Path, capsys) -> None:
    shutil.copy(sample_data / "covidx-ct-splits" / CT1[0], tmp_path)
    assert main(["data", "prepare", str(tmp_path)]) == 0
    manifest = load_manifest("covidx-ct-1")
    for key in ("train3000", "holdout"):
        spec = manifest.splits[key]
        assert file_sha256(tmp_path / spec.file) == spec.sha256
        assert (tmp_path / spec.file).stat().st_size == spec.bytes
    record = yaml.safe_load((tmp_path / DERIVED_SPLITS_FILE).read_text())
    assert record["train3000_seed0_COVIDx_CT-1.txt"]["per_class"] == {0: 1000, 1: 1000, 2: 1000}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left
    subset = {line.split()[0] for line in (tmp_path / manifest.splits["train3000"].file).read_text().splitlines()}
    holdout = {line.split()[0] for line in (tmp_path / manifest.splits["holdout"].file).read_text().splitlines()}
    assert not subset & holdout and len(subset | holdout) == 61782


def test_prepare_refuses_other_lists_and_converts_authors_list(tmp_path: Path) -> None:
    train = tmp_path / "train_COVIDx_CT-1.txt"
    train.write_text("".join(f"{p}_1_2_{i:04d}.png {c} 0 0 512 512\n"
                             for c, p in enumerate(("Normal", "CP", "NCP")) for i in range(3)))
    with pytest.raises(DataError, match="not that of the official CT-1 train list"):
        prepare_covidx_subsets(tmp_path)
    authors = tmp_path / "train_split_classification.txt"
    authors.write_text("0_1_2_0001.png\n2_1_2_0000.png\n")
    written = prepare_covidx_subsets(tmp_path, authors_list=authors, force=True)
    assert (tmp_path / "train2_authors_COVIDx_CT-1.txt").read_text().split("\n")[:2] == [
        "Normal_1_2_0001.png 0 0 0 512 512", "NCP_1_2_0000.png 2 0 0 512 512"]
    assert written["holdout_authors_COVIDx_CT-1.txt"]["lines"] == 7
    authors.write_text("1_9_9_9999.png\n")
    with pytest.raises(DataError, match="no CT-1 train slice CP_9_9_9999.png"):
        prepare_covidx_subsets(tmp_path, authors_list=authors, force=True)


def test_phantoms_command_passes_its_options(tmp_path: Path, monkeypatch) -> None:
    calls = []
    fake = types.ModuleType("lstmattn.data.phantom")
    fake.PhantomConfig = lambda image_size: {"image_size": image_size}
    fake.write_phantom_dataset = lambda out, **kwargs: calls.append((out, kwargs))
    monkeypatch.setitem(sys.modules, "lstmattn.data.phantom", fake)
    assert main(["data", "phantoms", "--out", str(tmp_path), "--n-train", "3", "--size", "64", "--seed", "5"]) == 0
    assert calls == [(tmp_path, {"n_classification": {"train": 3, "val": 50, "test": 100, "holdout": 100},
                                 "n_segmentation": {"train": 120, "test": 40},
                                 "config": {"image_size": 64}, "seed": 5})]
