"""Synthetic CT phantoms: determinism, tissue values, class patterns, ground truth and
the on-disk data set in the real COVIDx / CNCB formats."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from scipy import ndimage
from skimage.measure import label as connected_components

from lstmattn.data import cncb, covidx
from lstmattn.data.phantom import (
    SEGMENTATION_CLASS_CYCLE,
    PhantomConfig,
    generate_slice,
    label_map_instances,
    write_phantom_dataset,
)
from lstmattn.data.phantom_anatomy import HU
from lstmattn.data.windowing import hu_to_covidx_uint8
from lstmattn.errors import ConfigError, DataError

SMALL = PhantomConfig(image_size=128)
SMALL_COUNTS = {"n_classification": {"train": 4, "val": 2, "test": 3}, "n_segmentation": {"train": 6, "test": 3}}


@pytest.fixture(scope="module")
def stats_slices() -> dict[int, list]:
    """20 slices per class (5 patients each) at 128 px."""
    return {c: [generate_slice(c, i, config=SMALL, seed=3) for i in range(20)] for c in range(3)}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("phantoms") / "ds"
    return write_phantom_dataset(out, config=SMALL, seed=1, progress=False, **SMALL_COUNTS)


def _lung_side_counts(s) -> tuple[int, int]:
    """Lesion pixels in the image-left and image-right halves of the body."""
    lesion = s.label_map >= 2
    middle = (s.body_box[0] + s.body_box[2]) // 2
    return int(lesion[:, :middle].sum()), int(lesion[:, middle:].sum())


# --- determinism ---------------------------------------------------------------------


def test_same_seed_same_slice_regardless_of_order() -> None:
    forward = [generate_slice(2, i, config=SMALL, seed=5, split="val") for i in range(3)]
    alone = generate_slice(2, 2, config=SMALL, seed=5, split="val")
    np.testing.assert_array_equal(forward[2].hu, alone.hu)
    np.testing.assert_array_equal(forward[2].label_map, alone.label_map)
    assert forward[2].patient_id == alone.patient_id


def test_seed_split_and_class_change_the_slice() -> None:
    base = generate_slice(1, 0, config=SMALL, seed=0).hu
    for other in (
        generate_slice(1, 0, config=SMALL, seed=1),
        generate_slice(1, 0, config=SMALL, seed=0, split="test"),
        generate_slice(2, 0, config=SMALL, seed=0),
    ):
        assert not np.array_equal(base, other.hu)


def test_slices_of_one_patient_share_anatomy_and_id() -> None:
    a, b = (generate_slice(0, i, config=SMALL) for i in (0, 1))
    c = generate_slice(0, SMALL.slices_per_patient, config=SMALL)
    assert a.patient_id == b.patient_id != c.patient_id
    assert a.body_box == b.body_box and a.slice_number < b.slice_number


# --- image content -------------------------------------------------------------------


@pytest.mark.parametrize("size", [128, 256])
def test_shapes_types_and_window(size: int) -> None:
    s = generate_slice(2, 1, config=PhantomConfig(image_size=size))
    assert s.hu.shape == s.image.shape == s.label_map.shape == (size, size)
    assert (s.hu.dtype, s.image.dtype, s.label_map.dtype) == (np.float32, np.uint8, np.uint8)
    np.testing.assert_array_equal(s.image, hu_to_covidx_uint8(s.hu))
    assert set(np.unique(s.label_map)) <= {0, 1, 2, 3}


def test_tissue_hounsfield_units() -> None:
    s = generate_slice(0, 0, config=PhantomConfig(image_size=256))
    body = np.zeros_like(s.label_map, dtype=bool)
    x0, y0, x1, y1 = s.body_box
    body[y0:y1, x0:x1] = True
    corner = s.hu[:10, :10]
    assert abs(float(corner.mean()) - HU["air"]) < 15
    lung = ndimage.binary_erosion(s.label_map == 1, iterations=2)
    assert -900 < float(np.median(s.hu[lung])) < -780
    assert float(s.hu[body].max()) > 400, "bone"
    soft = (s.hu > -150) & (s.hu < 100)
    assert soft[body].mean() > 0.25, "fat, muscle and mediastinum fill much of the body"


def test_lesion_hounsfield_units(stats_slices: dict[int, list]) -> None:
    ggo = np.concatenate([s.hu[ndimage.binary_erosion(s.label_map == 2, iterations=2)] for s in stats_slices[2]])
    cons = np.concatenate([s.hu[ndimage.binary_erosion(s.label_map == 3, iterations=2)] for s in stats_slices[1]])
    assert -780 < np.median(ggo) < -300
    assert -200 < np.median(cons) < 80


# --- class patterns --------------------------------------------------------------------


def test_normal_slices_have_no_lesions(stats_slices: dict[int, list]) -> None:
    for s in stats_slices[0]:
        assert not (s.label_map >= 2).any()
        assert {label for label, _ in s.instances} == {1}


def test_class_patterns(stats_slices: dict[int, list]) -> None:
    def share(c: int, value: int) -> float:
        lesion = sum(int((s.label_map >= 2).sum()) for s in stats_slices[c])
        return sum(int((s.label_map == value).sum()) for s in stats_slices[c]) / lesion

    def bilateral(c: int) -> float:
        return float(np.mean([min(_lung_side_counts(s)) > 0 for s in stats_slices[c]]))

    assert all((s.label_map >= 2).any() for c in (1, 2) for s in stats_slices[c])
    assert share(2, 2) > 0.6, "COVID-19: mostly GGO"
    assert share(1, 3) > 0.6, "CP: mostly consolidation"
    assert bilateral(2) > bilateral(1) + 0.2


# --- ground truth ----------------------------------------------------------------------


def test_instances_are_the_label_map_components(stats_slices: dict[int, list]) -> None:
    min_area = SMALL.min_area()
    for s in stats_slices[1][:8] + stats_slices[2][:8]:
        assert len(s.instances) == len(label_map_instances(s.label_map, min_area))
        covered = np.zeros_like(s.label_map)
        for label, mask in s.instances:
            assert mask.dtype == bool and mask.sum() > min_area
            assert (s.label_map[mask] == label).all()
            assert connected_components(mask, connectivity=2).max() == 1
            covered[mask] = label
        np.testing.assert_array_equal(covered, s.label_map)
        lungs = [m for label, m in s.instances if label == 1]
        assert len(lungs) >= 2


def test_config_validation() -> None:
    with pytest.raises(ConfigError, match="overlap_prob"):
        PhantomConfig(overlap_prob=1.5)
    with pytest.raises(ConfigError, match="split"):
        generate_slice(0, 0, config=SMALL, split="hold-out")
    assert dataclasses.replace(SMALL, image_size=512).min_area() == 100


# --- the data set on disk ----------------------------------------------------------------


def test_layout_and_split_files(dataset: Path) -> None:
    manifest = yaml.safe_load((dataset / "phantom.yaml").read_text())
    assert "NOT patient data" in manifest["description"]
    for split, n in SMALL_COUNTS["n_classification"].items():
        lines = (dataset / "covidx" / f"{split}.txt").read_text().splitlines()
        assert len(lines) == 3 * n
        for line in lines:
            name, cls, *box = line.split()
            prefix, patient, scan, number = Path(name).stem.split("_")
            assert prefix == ("Normal", "CP", "NCP")[int(cls)] and patient.startswith("PH") and len(number) == 4
            x0, y0, x1, y1 = map(int, box)
            image = np.array(Image.open(dataset / "covidx" / "images" / name))
            assert image.dtype == np.uint8 and image.shape == (128, 128)
            assert 0 <= x0 < x1 <= 128 and 0 <= y0 < y1 <= 128
        assert manifest["classification_counts"][split] == {"Normal": n, "CP": n, "COVID-19": n}
    for split, n in SMALL_COUNTS["n_segmentation"].items():
        names = (dataset / "cncb_seg" / f"{split}.txt").read_text().split()
        assert len(names) == n
        for name in names:
            mask = np.array(Image.open(dataset / "cncb_seg" / "masks" / name))
            assert set(np.unique(mask)) <= {0, 1, 2, 3}
            assert (dataset / "cncb_seg" / "imgs" / name).is_file()
    assert set(manifest["segmentation_class_cycle"]) == {"Normal", "CP", "COVID-19"}
    assert len(SEGMENTATION_CLASS_CYCLE) == 8


def test_patients_do_not_cross_splits(dataset: Path) -> None:
    def patients(task: str, split: str) -> set[str]:
        names = [line.split()[0] for line in (dataset / task / f"{split}.txt").read_text().splitlines()]
        return {n.split("_")[1] if task == "covidx" else n.split("_")[0] for n in names}

    groups = [patients("covidx", s) for s in ("train", "val", "test")]
    groups += [patients("cncb_seg", s) for s in ("train", "test")]
    assert sum(map(len, groups)) == len(set().union(*groups))


def test_rewrite_is_idempotent_and_conflicts_raise(dataset: Path) -> None:
    before = (dataset / "phantom.yaml").stat().st_mtime_ns
    assert write_phantom_dataset(dataset, config=SMALL, seed=1, progress=False, **SMALL_COUNTS) == dataset
    assert (dataset / "phantom.yaml").stat().st_mtime_ns == before
    with pytest.raises(DataError, match=str(dataset)):
        write_phantom_dataset(dataset, config=SMALL, seed=2, progress=False, **SMALL_COUNTS)
    (dataset.parent / "other").mkdir()
    (dataset.parent / "other" / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="other"):
        write_phantom_dataset(dataset.parent / "other", config=SMALL, progress=False, **SMALL_COUNTS)
    assert not list(dataset.parent.glob(".*tmp-*"))


def test_parallel_write_matches_serial(tmp_path: Path) -> None:
    counts = {"n_classification": {"train": 24}, "n_segmentation": {}}
    out = write_phantom_dataset(tmp_path / "p", config=SMALL, seed=1, progress=False, **counts)
    lines = (out / "covidx" / "train.txt").read_text().splitlines()
    assert len(lines) == 72
    name = lines[40].split()[0]
    cls = int(lines[40].split()[1])
    index = 40 - 24 * cls
    expected = generate_slice(cls, index, config=SMALL, seed=1, split="train").image
    np.testing.assert_array_equal(np.array(Image.open(out / "covidx" / "images" / name)), expected)


def test_round_trip_through_the_real_loaders(dataset: Path) -> None:
    cls = covidx.CovidxClassificationDataset(dataset / "covidx" / "test.txt", dataset / "covidx" / "images")
    lines = (dataset / "covidx" / "test.txt").read_text().splitlines()
    assert len(cls) == len(lines)
    for i, line in enumerate(lines):
        image, target = cls[i]
        assert int(target["image_label"]) == int(line.split()[1])
        expected = np.array(Image.open(dataset / "covidx" / "images" / line.split()[0]))
        np.testing.assert_allclose(image[0].numpy() * 255.0, expected, atol=0.51)
    seg = cncb.CncbSegmentationDataset(
        dataset / "cncb_seg" / "imgs",
        dataset / "cncb_seg" / "masks",
        split_file=dataset / "cncb_seg" / "train.txt",
        min_component_area=SMALL.min_area(),
    )
    names = (dataset / "cncb_seg" / "train.txt").read_text().split()
    assert len(seg) == len(names)
    for i in range(len(seg)):
        _, target = seg[i]
        j = names.index(Path(target["file"]).name)
        class_id = SEGMENTATION_CLASS_CYCLE[(j // SMALL.slices_per_patient) % len(SEGMENTATION_CLASS_CYCLE)]
        s = generate_slice(class_id, j, config=SMALL, seed=1, split="seg-train")
        assert target["labels"].tolist() == [label for label, _ in s.instances]
        for got, (_, mask) in zip(target["masks"].numpy().astype(bool), s.instances):
            np.testing.assert_array_equal(got, mask)


def _image_features(images: list[np.ndarray]) -> np.ndarray:
    """Global cues a classifier could use without seeing a lesion: 8 × 8 block means and a
    32-bin grey histogram of each slice."""
    blocks = [image.reshape(8, image.shape[0] // 8, 8, image.shape[1] // 8).mean(axis=(1, 3)).ravel() for image in images]
    histograms = [np.histogram(image, bins=32, range=(0, 256), density=True)[0] for image in images]
    return np.hstack([np.asarray(blocks) / 255.0, np.asarray(histograms) * 100])


@pytest.mark.parametrize("with_lesions", [False, True])
def test_classes_differ_only_through_their_lesions(with_lesions: bool) -> None:
    """A classifier of global cues (layout, grey levels, body size) stays at chance on
    lesion-free copies of the three classes, and learns the classes once the lesions are
    drawn (the control that shows the test can fail)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    config = PhantomConfig(image_size=64, lesion_size=1.3, lesion_contrast=1.3)
    images, labels = [], []
    for class_id in range(3):
        for index in range(120):
            images.append(generate_slice(class_id, index, config=config, seed=5, with_lesions=with_lesions).image)
            labels.append(class_id)
    classifier = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    accuracy = cross_val_score(classifier, _image_features(images), labels, cv=5).mean()
    if with_lesions:
        assert accuracy > 0.6
    else:
        assert accuracy < 0.45  # chance is 1/3; 360 slices
