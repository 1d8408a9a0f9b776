"""The body / lung crop of full field-of-view slices (issue 31): synthetic slices with a
table, the real P001 DICOM and normal001 slices, the training screenshots, the rule."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from lstmattn.data.body_crop import (
    BODY_CROPPED_SOURCES,
    BodyCroppedView,
    SliceCrop,
    crop_rule,
    find_body_crop,
)
from lstmattn.data.dicom import read_dicom_slice
from lstmattn.data.images import resize_image, to_image_tensor

AIR, LUNG, TISSUE, TABLE = 55, 85, 220, 235  # COVIDx-window grey levels
SIZE = 512


def _ellipse(centre: tuple[float, float], radii: tuple[float, float], size: int = SIZE) -> np.ndarray:
    y, x = np.ogrid[:size, :size]
    return ((x - centre[0]) / radii[0]) ** 2 + ((y - centre[1]) / radii[1]) ** 2 <= 1


def _synthetic_slice(*, lungs: bool = True, table_gap: int = 6) -> tuple[np.ndarray, dict[str, tuple[int, int, int, int]]]:
    """A 512² slice: air, a body (ellipse) with two lungs, and a 4 px table bar
    ``table_gap`` px below the body (0: touching it) reaching across the slice. Returns
    the slice and the boxes (x0, y0, x1, y1, exclusive) of the body, lungs and table."""
    grey = np.full((SIZE, SIZE), AIR, dtype=np.uint8)
    grey[_ellipse((256, 230), (200, 140))] = TISSUE  # body: x 56-456, y 90-370
    boxes = {"body": (56, 90, 457, 371)}
    if lungs:
        grey[_ellipse((180, 225), (60, 90)) | _ellipse((332, 225), (60, 90))] = LUNG  # x 120-392, y 135-315
        boxes["lungs"] = (120, 135, 393, 316)
    top = 371 + table_gap
    grey[top:top + 4, 20:492] = TABLE
    boxes["table"] = (20, top, 492, top + 4)
    return grey, boxes


def _inside(inner: tuple[int, int, int, int], outer: tuple[int, int, int, int]) -> bool:
    return outer[0] <= inner[0] and outer[1] <= inner[1] and inner[2] <= outer[2] and inner[3] <= outer[3]


def _area(box: tuple[int, int, int, int]) -> int:
    return (box[2] - box[0]) * (box[3] - box[1])


@pytest.mark.parametrize("table_gap", [6, 0], ids=["table-apart", "table-touching"])
def test_crop_of_a_synthetic_slice_frames_the_lungs_inside_the_body_and_leaves_the_table_out(table_gap: int):
    grey, truth = _synthetic_slice(table_gap=table_gap)
    crop = find_body_crop(grey)
    assert crop.basis == "lungs" and "lungs" in crop.reason
    assert _inside(truth["lungs"], crop.box) and _inside(crop.box, truth["body"])
    assert crop.box[3] <= truth["table"][1]  # nothing of the table
    x0, y0, x1, y1 = truth["lungs"]  # the lungs fill the crop as in the training screenshots (93 % x 88 %)
    assert 0.85 <= (x1 - x0) / (crop.box[2] - crop.box[0]) <= 0.97
    assert 0.82 <= (y1 - y0) / (crop.box[3] - crop.box[1]) <= 0.92
    assert crop.apply(grey).shape == (crop.box[3] - crop.box[1], crop.box[2] - crop.box[0])


def test_crop_without_lungs_is_the_body_without_the_table():
    grey, truth = _synthetic_slice(lungs=False, table_gap=0)
    crop = find_body_crop(grey)
    assert crop.basis == "body" and "no lungs" in crop.reason
    assert crop.box[3] <= truth["table"][1]
    assert all(abs(found - true) <= 2 for found, true in zip(crop.box, truth["body"]))


@pytest.mark.parametrize("case, reason", [
    ("uniform", "no body found: the slice has a single grey level"),
    ("speck", "no body found: the largest bright region covers"),
    ("framed", "already framed on the body"),
    ("small", "not cropped: the lungs box is"),
])
def test_degenerate_slices_are_not_cropped_and_say_why(case: str, reason: str):
    grey = np.full((64, 64) if case == "small" else (SIZE, SIZE), AIR, dtype=np.uint8)
    if case == "speck":
        grey[250:262, 250:262] = TISSUE
    elif case == "framed":  # a screenshot: body up to every edge, lungs inside
        grey[:] = TISSUE
        grey[_ellipse((256, 256), (200, 200))] = LUNG
    elif case == "small":  # a 64² slice whose body, and so the crop, is under 32 px tall
        grey[_ellipse((32, 32), (25, 15), 64)] = TISSUE
        grey[_ellipse((22, 32), (7, 9), 64) | _ellipse((42, 32), (7, 9), 64)] = LUNG
    crop = find_body_crop(grey)
    assert crop.box is None and crop.basis is None and crop.reason.startswith(reason)
    assert crop.apply(grey) is grey and crop.to_json() == {"box": None, "basis": None, "reason": crop.reason}


def test_crop_refuses_what_is_not_a_grey_slice():
    with pytest.raises(ValueError, match="expected a uint8 array"):
        find_body_crop(np.zeros((64, 64), dtype=np.float32))


def _enclosed_dark(grey: np.ndarray) -> tuple[int, int, int, int]:
    """The box of the dark regions (grey < 120) of 2,000 px or more that do not reach the
    slice's edge: the lungs, found independently of the crop."""
    labels, count = ndimage.label(grey < 120)
    sizes = np.bincount(labels.ravel())
    outside = set(np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])))
    lungs = np.isin(labels, [k for k in range(1, count + 1) if k not in outside and sizes[k] >= 2000])
    rows, columns = np.flatnonzero(lungs.any(axis=1)), np.flatnonzero(lungs.any(axis=0))
    return int(columns[0]), int(rows[0]), int(columns[-1]) + 1, int(rows[-1]) + 1


@pytest.mark.parametrize("slice_file", [
    "dicom-series/P001/98C14734-ASSH_100.dcm",
    "covidx-ct-sample/images/COVIDCTMD-normal001-IM0070.png",
])
def test_crop_of_a_real_full_field_of_view_slice_covers_the_lungs_strictly_inside_the_image(sample_data: Path,
                                                                                          slice_file: str):
    path = sample_data / slice_file
    grey = read_dicom_slice(path) if path.suffix == ".dcm" else np.array(Image.open(path).convert("L"))
    crop = find_body_crop(grey)
    height, width = grey.shape
    x0, y0, x1, y1 = crop.box
    assert crop.basis == "lungs"
    assert 0 < x0 < x1 < width and 0 < y0 < y1 < height, f"{crop.box} not strictly inside {width}x{height}"
    assert _inside(_enclosed_dark(grey), crop.box)
    assert _area(crop.box) <= 0.6 * height * width  # the air and the table are cut away
    assert 1.12 <= (x1 - x0) / (y1 - y0) <= 1.64  # the training screenshots' p5-p95 width / height


def test_training_screenshots_are_cropped_by_little(sample_data: Path):
    """The two-class training slices are framed on the body already: most are left as
    they are, the few framed with some air around the body keep most of their area."""
    folders = [sample_data / "sarscov2-ct" / folder for folder in ("COVID", "non-COVID")]
    files = [path for folder in folders for path in sorted(folder.glob("*.png"))[:10]]
    files.append(sample_data / "sarscov2-ct" / "non-COVID" / "Non-Covid (90).png")  # air in its corners
    kept = []
    for path in files:
        grey = np.array(Image.open(path).convert("L"))
        crop = find_body_crop(grey)
        kept.append(1.0 if crop.box is None else _area(crop.box) / grey.size)
        if crop.box is None:
            assert crop.reason.startswith("already framed on the body"), (path, crop.reason)
    assert sum(share == 1.0 for share in kept) >= len(files) - 2
    assert min(kept) >= 0.75, f"a training screenshot lost {1 - min(kept):.0%} of its area"


def test_auto_crops_for_the_folder_per_class_source_only():
    assert BODY_CROPPED_SOURCES == {"class-folders"}


@pytest.mark.parametrize("mode, source, crops", [
    ("auto", "class-folders", True),
    ("auto", "phantom", False),
    ("auto", "covidx", False),
    ("auto", "ictcf", False),
    ("auto", None, False),
    ("body", "phantom", True),
    ("none", "class-folders", False),
])
def test_crop_rule_crops_for_models_trained_on_cropped_slices(mode: str, source: str | None, crops: bool):
    rule = crop_rule(mode, source)
    assert rule.crop is crops and rule.mode == mode and f"'{mode}'" in rule.reason
    grey, _ = _synthetic_slice()
    crop = rule.slice_crop(grey)
    assert (crop.box is not None) is crops
    if not crops:
        assert crop == SliceCrop(None, None, f"not cropped: {rule.reason}")
    assert rule.to_json() == {"mode": mode, "crop": crops, "reason": rule.reason}


def test_crop_rule_refuses_an_unknown_mode():
    with pytest.raises(ValueError, match="crop mode must be one of"):
        crop_rule("lungs", "class-folders")


class _StoredSlices(torch.utils.data.Dataset):
    """Classification items at their stored size, as the loaders serve them with ``image_size=None``."""

    def __init__(self, images: list[np.ndarray]) -> None:
        self.images = images
        self.labels = [index % 2 for index in range(len(images))]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        return to_image_tensor(self.images[index]), {"image_label": torch.tensor(self.labels[index]), "file": f"{index}.png"}


def test_body_cropped_view_crops_before_resizing():
    grey, _ = _synthetic_slice()
    view = BodyCroppedView(_StoredSlices([grey]), 64)
    image, target = view[0]
    assert view.labels == [0] and len(view) == 1 and target["file"] == "0.png"
    expected = resize_image(to_image_tensor(find_body_crop(grey).apply(grey)), 64)
    assert image.shape == (3, 64, 64) and torch.equal(image, expected)


def _two_class_config(source: str):
    from dataclasses import replace

    from lstmattn.config import get_profile

    config = get_profile("quick")
    return replace(config, model=replace(config.model, num_image_classes=2, image_size=64),
                   data=replace(config.data, source=source))


@pytest.mark.parametrize("source", ["class-folders", "phantom"])
def test_folder_evaluation_crops_full_slices_under_the_predict_rule(sample_data: Path, tmp_path: Path, source: str):
    """``evaluate --data`` on a COVIDx list: a run trained on the cropped two-class slices
    scores the full field-of-view slices cropped, as ``predict --crop auto`` sees them."""
    from lstmattn.engine.folder_evaluation import open_labelled_folder

    images = tmp_path / "covidx" / "images"
    images.mkdir(parents=True)
    name = "COVIDCTMD-normal001-IM0070.png"
    shutil.copy(sample_data / "covidx-ct-sample" / "images" / name, images / name)
    (images.parent / "labels.txt").write_text(f"{name} 0 0 0 512 512\n")
    rule = crop_rule("auto", source)
    labelled = open_labelled_folder(images.parent, _two_class_config(source), rule)
    assert labelled.crop == rule and ("cropped around the lungs" in labelled.description) is rule.crop
    image, target = labelled.dataset[0]
    grey = np.array(Image.open(images / name).convert("L"))
    shown = find_body_crop(grey).apply(grey) if rule.crop else grey
    assert target["image_label"] == 0 and torch.equal(image, resize_image(to_image_tensor(shown), 64))

    medseg = open_labelled_folder(sample_data / "medseg-semiseg" / "train", _two_class_config(source), rule)
    assert not medseg.crop.crop and "cropped to the body already" in medseg.crop.reason
