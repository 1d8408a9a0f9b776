"""The paper's Tables 1-4 as data, re-assembled row by row from the paper's PDF.

The PDF's text layer gives the table columns one after the other, not row by row; the
rows here were put back together from it (the book's "Paper vs code" page, section
"The paper's tables", says so for readers). Cells whose column could not be placed with
confidence are kept with ``uncertain=True``, so that tables show them flagged (†) and
never compute a Δ against them. A printed value that contradicts the other values of its
own row gets a :attr:`PaperCell.note` computed from the printed values (‡; e.g.
:func:`ap_mean_bounds` for Table 1), which the tables print under themselves.

Every value is kept as the *text printed in the paper* (``"95.74"``, ``"0.4979"``), so the
paper column of our tables shows exactly the printed digits; :attr:`PaperCell.value`
gives the number. Tables 2-4 are percentages; Table 1 holds AP values as fractions.

Rows that the paper quotes from other publications (other data sets, other splits) are
marked ``source=QUOTED``: they are reference rows only and never get an "ours" value.
COVID-Net CT-2 is quoted too, but Table 2's caption says it used the paper's data: its
source is :data:`QUOTED_CAPTION_SAME_DATA`, and the table's notes quote the caption
(:data:`TABLE2_CAPTION`) and say why that is in doubt.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Literal, Mapping

from lstmattn.labels import ONE_SHOT

__all__ = [
    "THIS_PAPER",
    "QUOTED",
    "QUOTED_CAPTION_SAME_DATA",
    "TABLE2_CAPTION",
    "PAPER_REFERENCES",
    "AP_THRESHOLDS",
    "ap_mean_bounds",
    "PaperCell",
    "PaperRow",
    "PaperTable",
    "TABLE1",
    "TABLE2",
    "TABLE3",
    "TABLE4",
    "PAPER_TABLES",
    "TEXT_NOTES",
]

THIS_PAPER = "this paper"
QUOTED = "quoted, other data"
QUOTED_CAPTION_SAME_DATA = "quoted; caption: same data as the paper's model (in doubt, see notes)"
"""Source of Table 2's COVID-Net CT-2 row: quoted from its publication, although the
paper's caption says it was trained and evaluated on the paper's data."""

TABLE2_CAPTION = (
    "Results for the reference models were taken from the respective publications and were trained and "
    "evaluated on different datasets. COVID-Net CT-2, DenseNet and ResNet models were trained and evaluated on "
    "the same data as our model."
)
"""The last two sentences of the paper's caption of Table 2, verbatim."""

#: The paper's reference numbers that its table rows carry, and the work each one is (the
#: book's references.bib has an entry for each).
PAPER_REFERENCES: Mapping[str, str] = {
    "[15]": "Ter-Sarkisov 2021, the One Shot Model with affinities",
    "[23]": "Ter-Sarkisov 2020, COVID-CT-Mask-Net",
    "[25]": "Song et al. 2020, DRE-Net",
    "[26]": "Li et al. 2020, COVNet",
    "[27]": "Polsinelli et al. 2020, a light CNN",
    "[28]": "Zhao et al. 2020, COVID-CT-Dataset",
    "[29]": "Gunraj et al. 2021, COVID-Net CT-2",
    "[34]": "Ning et al. 2020, iCTCF, whose VGG16 result the row quotes",
}


@dataclass(frozen=True)
class PaperCell:
    """One printed cell: its text, whether the re-assembly could place it in its column
    with confidence, and ``note``: why the printed value contradicts the rest of its row
    (empty when it does not)."""

    text: str
    uncertain: bool = False
    note: str = ""

    @property
    def value(self) -> float:
        """The printed number."""
        return float(self.text)


@dataclass(frozen=True)
class PaperRow:
    """One row of a paper table.

    ``model`` is the registered model name that reproduces the row (``None`` for rows
    with no counterpart in this package); ``cells`` maps column → cell, a missing column
    is a dash in the paper.
    """

    label: str
    cells: Mapping[str, PaperCell]
    model: str | None = None
    source: str = THIS_PAPER
    reference: str | None = None

    def cell(self, column: str) -> PaperCell | None:
        return self.cells.get(column)


@dataclass(frozen=True)
class PaperTable:
    """A paper table: its columns (in order), rows, unit and caption notes, and the data
    the paper measured it on: the ``task`` and the sources of that task's slices
    (``data_sources``, names of ``DataConfig.source`` for classification and of
    ``DataConfig.segmentation_source`` for segmentation). Only a run whose source of that
    task is one of them is compared with the paper (Δ); none is when there are none."""

    name: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[PaperRow, ...]
    unit: str  # "percent" or "fraction"
    notes: tuple[str, ...] = field(default_factory=tuple)
    task: Literal["classification", "segmentation"] = "classification"
    data_sources: tuple[str, ...] = ()

    def row_for(self, model: str) -> PaperRow | None:
        """The paper row reproduced by the registered model ``model``, if any."""
        return next((row for row in self.rows if row.model == model), None)


def _row(label: str, model: str | None, values: Mapping[str, str], *, uncertain: tuple[str, ...] = (),
         source: str = THIS_PAPER, reference: str | None = None) -> PaperRow:
    """Build a row from printed texts; columns named in ``uncertain`` are flagged."""
    cells = {column: PaperCell(text, column in uncertain) for column, text in values.items()}
    return PaperRow(label, cells, model, source, reference)


_AP = ("AP@0.5", "AP@0.75", "AP@[0.5:0.95]")

AP_THRESHOLDS: tuple[float, ...] = tuple(round(0.5 + 0.05 * step, 2) for step in range(10))
"""The IoU thresholds whose mean AP is AP@[0.5:0.95] (§4.2: the MS COCO criterion)."""


def ap_mean_bounds(ap50: float, ap75: float) -> tuple[float, float]:
    """The range AP@[0.5:0.95] can take given AP@0.5 and AP@0.75 of the same predictions.

    Raising the IoU threshold can only turn matches into misses, so AP does not rise
    with the threshold: every threshold below 0.75 has an AP between AP@0.75 and AP@0.5,
    every one above 0.75 between 0 and AP@0.75. The mean over :data:`AP_THRESHOLDS` thus
    lies between the two bounds returned (low, high).
    """
    high = [ap50 if t < 0.75 else ap75 for t in AP_THRESHOLDS]
    low = [ap50 if t == 0.5 else ap75 if t <= 0.75 else 0.0 for t in AP_THRESHOLDS]
    return sum(low) / len(low), sum(high) / len(high)


def _check_ap_mean(row: PaperRow) -> PaperRow:
    """``row`` with a note on its AP@[0.5:0.95] cell when the printed value lies outside
    :func:`ap_mean_bounds` of its own AP@0.5 and AP@0.75."""
    ap50, ap75, mean = (row.cell(column) for column in _AP)
    if ap50 is None or ap75 is None or mean is None:
        return row
    low, high = ap_mean_bounds(ap50.value, ap75.value)
    if low <= mean.value <= high:
        return row
    note = (f"{row.label}: the printed AP@[0.5:0.95], {mean.text}, cannot be the mean AP over the IoU thresholds "
            f"{AP_THRESHOLDS[0]:.2f}, {AP_THRESHOLDS[1]:.2f}, …, {AP_THRESHOLDS[-1]:.2f} of the same predictions "
            f"as the row's AP@0.5 ({ap50.text}) and AP@0.75 ({ap75.text}): AP cannot rise with the threshold, so "
            f"that mean lies between {math.floor(low * 1000) / 1000:.3f} and {math.ceil(high * 1000) / 1000:.3f}. "
            "Shown as printed.")
    return replace(row, cells={**row.cells, _AP[2]: replace(mean, note=note)})


def _references_note(rows: tuple[PaperRow, ...]) -> tuple[str, ...]:
    """A note naming the works behind the paper's reference numbers in ``rows``' labels."""
    used = [reference for reference in PAPER_REFERENCES if any(row.reference == reference for row in rows)]
    if not used:
        return ()
    named = "; ".join(f"{reference} {PAPER_REFERENCES[reference]}" for reference in used)
    return (f"Bracketed numbers are the paper's reference numbers: {named} (the book's References page lists "
            "them).",)

TABLE1 = PaperTable(
    name="table1",
    title="Table 1: lesion segmentation, mask AP on the 100-slice CNCB test split",
    columns=_AP,
    unit="fraction",
    task="segmentation",
    data_sources=("cncb",),
    rows=tuple(_check_ap_mean(row) for row in (
        _row("One Shot Model + LSTM+Attention", ONE_SHOT, dict(zip(_AP, ("0.605", "0.4979", "0.470")))),
        _row("One Shot Model [15] (affinity)", "one-shot-affinity", dict(zip(_AP, ("0.590", "0.389", "0.424"))), reference="[15]"),
        _row("Mask R-CNN", "mask-rcnn", dict(zip(_AP, ("0.502", "0.419", "0.387")))),
        _row("Mask R-CNN (heads only)", "mask-rcnn-heads-only", dict(zip(_AP, ("0.444", "0.379", "0.435")))),
    )),
    notes=(
        "The paper does not publish its AP script or settings; the template is the authors' earlier "
        "per-image VOC all-point AP (the book's page 'The authors' code', section 'Mask AP'). Whether the lung class was "
        "included is unknown.",
    ),
)

_T2 = ("COVID-19", "CP", "Negative", "F1", "Sensitivity", "Precision")


def _t2(label: str, model: str | None, texts: tuple[str | None, ...], **kwargs: object) -> PaperRow:
    return _row(label, model, {c: t for c, t in zip(_T2, texts) if t is not None}, **kwargs)  # type: ignore[arg-type]


TABLE2 = PaperTable(
    name="table2",
    title="Table 2: image classification on the COVIDx-CT test split (21,191 slices)",
    columns=_T2,
    unit="percent",
    data_sources=("covidx",),
    rows=(
        _t2("One Shot Model + LSTM+Attention", ONE_SHOT, ("95.74", "98.13", "99.27", "98.15", "98.15", "98.16")),
        _t2("One Shot Model [15]", "one-shot-affinity", ("93.35", "95.56", "95.63", "95.16", "95.10", "95.18"), reference="[15]"),
        _t2("COVID-CT-Mask-Net [23]", None, ("90.80", "91.62", "91.10", "91.50", None, None), reference="[23]"),
        _t2("ResNet18", "classifier-resnet18", ("92.59", "96.25", "92.03", "93.61", "93.62", "93.56")),
        _t2("ResNet34", "classifier-resnet34", ("88.70", "96.66", "99.20", "96.17", "96.26", "95.95")),
        _t2("ResNet50", "classifier-resnet50", ("91.04", "97.64", "98.97", "96.88", "96.89", "96.84")),
        _t2("ResNeXt50", "classifier-resnext50_32x4d", ("91.94", "88.45", "84.30", "87.31", "87.02", "87.34")),
        _t2("ResNeXt101", "classifier-resnext101_32x8d", ("91.58", "92.13", "94.02", "92.86", "93.11", "92.59")),
        _t2("DenseNet121", "classifier-densenet121", ("92.64", "96.16", "98.98", "96.69", "96.15", "97.01")),
        _t2("DenseNet169", "classifier-densenet169", ("89.37", "96.78", "98.12", "95.86", "96.11", "95.55")),
        _t2("DRE-Net [25]", None, (None, None, None, "94", "93", "96"), uncertain=("F1", "Sensitivity", "Precision"),
            source=QUOTED, reference="[25]"),
        _t2("COVNet [26]", None, ("90", "87", "94", None, None, None), uncertain=("COVID-19", "CP", "Negative"),
            source=QUOTED, reference="[26]"),
        _t2("LightCNN [27]", None, (None, None, None, "86.20", "87.55", "81.95"), uncertain=("F1", "Sensitivity", "Precision"),
            source=QUOTED, reference="[27]"),
        _t2("ResNet50 [28]", None, (None, None, None, "74.60", None, None), uncertain=("F1",), source=QUOTED, reference="[28]"),
        _t2("DenseNet169 [28]", None, (None, None, None, "76.00", None, None), uncertain=("F1",), source=QUOTED, reference="[28]"),
        _t2("COVID-Net CT-2 [29]", None, ("95.70", "98.10", "98.90", "97.95", "97.98", "97.91"),
            uncertain=("COVID-19", "CP", "Negative"), source=QUOTED_CAPTION_SAME_DATA, reference="[29]"),
    ),
    notes=(
        "COVID-19/CP/Negative are per-class sensitivities; F1 is the class-weighted F1 of Eq. 13; Sensitivity and "
        "Precision are the paper's 'overall' values, which no published script computes (the book's page 'The "
        "authors' code', code difference 13).",
        "Rows 1-10 were trained on the 3,000-slice COVIDx-CT subset; row 3 (COVID-CT-Mask-Net) is the authors' earlier "
        "model and is quoted, not re-run here; rows 11-15 are quoted from other publications on other data sets; "
        "row 16 (COVID-Net CT-2) is quoted from its publication, although the caption says otherwise (next notes).",
        f"The paper's caption of Table 2 ends: \"{TABLE2_CAPTION}\"",
        "That sentence is in doubt for COVID-Net CT-2 [29]: the paper describes no training of it on its 3,000 slices "
        "(§4.1 names COVID-CT-Mask-Net and the ResNets and DenseNets as the models compared on its data), and the "
        "row's COVID-19 sensitivity as re-assembled, 95.70 (†), equals the 95.7 % that COVID-Net CT-2's own publication reports for a "
        "network trained on its multinational COVIDx CT-2 benchmark, a larger set than the paper's. The row is "
        "therefore kept as quoted, with no run of ours beside it.",
        "Row 3 has no overall sensitivity/precision in the paper. The F1 column of rows 11-16 and the other cells of "
        "those rows are uncertain in the re-assembly of the PDF's scrambled columns.",
    ),
)

_T3 = ("COVID-19", "CP", "Negative", "F1")

TABLE3 = PaperTable(
    name="table3",
    title="Table 3: image classification on the hold-out part of the COVIDx-CT train split",
    columns=_T3,
    unit="percent",
    data_sources=("covidx",),
    rows=(
        _row("One Shot Model + LSTM+Attention", ONE_SHOT, dict(zip(_T3, ("98.39", "98.28", "99.31", "98.77")))),
        _row("One Shot Model [15]", "one-shot-affinity", dict(zip(_T3, ("98.02", "94.15", "96.09", "95.75"))), reference="[15]"),
    ),
    notes=(
        "The paper says 58,737 hold-out images; the CT-1 train split minus the 3,000 training slices has "
        "61,782 − 3,000 = 58,782. Our tables report the count actually evaluated (column n).",
    ),
)

_T4 = ("COVID-19", "Negative", "F1")

TABLE4 = PaperTable(
    name="table4",
    title="Table 4: two-class classification on the iCTCF test split (12,976 slices; ResNeXt50+FPN backbone)",
    columns=_T4,
    unit="percent",
    data_sources=("ictcf",),
    rows=(
        _row("One Shot Model + LSTM+Attention", ONE_SHOT, dict(zip(_T4, ("97.73", "98.68", "98.41")))),
        _row("One Shot Model", "one-shot-affinity", dict(zip(_T4, ("94.81", "97.46", "96.70")))),
        _row("VGG16 [34]", None, {"COVID-19": "97.00", "Negative": "85.47"}, uncertain=("COVID-19", "Negative"),
             source=QUOTED, reference="[34]"),
    ),
    notes=(
        "The paper gives the iCTCF test classes as COVID-19 9,275 / Negative 3,701; the published split list has the "
        "reverse (9,275 negative, 3,701 COVID-19).",
        "VGG16's two values may belong to other columns (uncertain column assignment).",
    ),
)

TABLE1, TABLE2, TABLE3, TABLE4 = (replace(table, notes=table.notes + _references_note(table.rows))
                                  for table in (TABLE1, TABLE2, TABLE3, TABLE4))

PAPER_TABLES: dict[str, PaperTable] = {t.name: t for t in (TABLE1, TABLE2, TABLE3, TABLE4)}

#: Inconsistencies in the paper's text, shown under the tables they concern.
TEXT_NOTES: tuple[str, ...] = (
    "Abstract: COVID-19 sensitivity 95.74 %, CP 98.13 %, Control 99.27 %, F1 98.15 % (= Table 2); "
    "ablation 97.73 % COVID-19 sensitivity and 98.41 % F1 (= Table 4).",
    "The introduction says 95.35 % COVID-19 sensitivity and 98.10 % F1, which differs from Table 2.",
    "The conclusion calls 95.74 % a 'precision'; in Table 2 it is the COVID-19 sensitivity.",
    "Eq. 13 weighs the per-class F1 by the class share in the data; the reference code fixes the weights at "
    "Negative 0.45, CP 0.35, COVID-19 0.20 (the CT-1 test shares are 0.446 / 0.349 / 0.205).",
)
