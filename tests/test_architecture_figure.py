"""Chapter 2's redrawing of the paper's Figure 1 (:mod:`lstmattn.viz.architecture`): it
draws, every module and name it labels a box with exists, and every part of the paper's
figure is there, wired as the paper wires it."""

from __future__ import annotations

import importlib
import inspect
import io
import warnings

import pytest

from lstmattn.viz.architecture import CANVAS, FRAMES, LINKS, PARTS, Part, plot_architecture

PARTS_BY_KEY = {part.key: part for part in PARTS}
NAMED = sorted({(p.module, p.qualname) for p in PARTS} | {(f.module, f.qualname) for f in FRAMES}
               | {(link.module, link.qualname) for link in LINKS if link.module})

#: The parts of the paper's Figure 1 (§3.2-3.8) → the implementation each must be labelled
#: with, and the section its title must cite.
PAPER_PARTS = [
    ("backbone + FPN", "lstmattn.model.backbone.build_backbone", "§3.3"),
    ("RPN", "lstmattn.model.rpn.OneShotRPN", "§3.4"),
    ("RoI segmentation branch (box + mask heads)",
     "lstmattn.model.segmentation_branch.segmentation_components", "§3.5"),
    ("RoI classification branch", "lstmattn.model.roi_classification.RoIClassificationBranch", "§3.6"),
    ("batch of β ranked RoIs", "lstmattn.model.roi_classification.select_rois", "§3.6"),
    ("mask sieve", "lstmattn.model.attention.MaskSieve", "§3.7.1"),
    ("vectorisation to the RoI sequence", "lstmattn.model.attention.RoIVectoriser", "§3.7.1"),
    ("LSTM + attention", "lstmattn.model.attention.LSTMAttention", "§3.7.2"),
    ("image classification modules", "lstmattn.model.heads.ImageClassificationHead", "§3.8"),
    ("image class output Δ", "lstmattn.model.heads.DeltaLogits", "Eq. 9"),
    ("L_SEG", "lstmattn.losses.segmentation_loss", "Eq. 8"),
    ("L_CLS, the Δσ loss", "lstmattn.losses.delta_sigma_loss", "Eq. 9-10"),
    ("L_TOTAL = L_SEG + L_CLS", "lstmattn.losses.total_loss", "Eq. 8"),
]


def _resolve(module: str, qualname: str) -> object:
    obj: object = importlib.import_module(module)
    for name in qualname.split("."):
        obj = getattr(obj, name)
    return obj


def _parts_implemented_by(name: str) -> list[Part]:
    return [part for part in PARTS if f"{part.module}.{part.qualname}" == name]


def test_the_figure_draws_every_box_label_and_frame_without_missing_glyphs() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a glyph the font lacks or bad mathtext would warn
        figure = plot_architecture()
        png = io.BytesIO()
        figure.savefig(png, format="png", dpi=60)
    assert png.getvalue().startswith(b"\x89PNG")
    assert tuple(figure.get_size_inches())[0] == CANVAS[0]
    texts = {text.get_text() for text in figure.axes[0].texts}
    for part in PARTS:
        assert {part.title, part.module, "." + part.qualname, *part.detail} <= texts, part.key
    for frame in FRAMES:
        assert f"{frame.title}  {frame.module}.{frame.qualname}" in texts
    assert all(link.label in texts for link in LINKS if link.label)


@pytest.mark.parametrize(("module", "qualname"), NAMED, ids=[f"{m}.{q}" for m, q in NAMED])
def test_every_named_module_and_qualname_exists_where_the_figure_says(module: str, qualname: str) -> None:
    assert module.startswith("lstmattn.") and qualname
    obj = _resolve(module, qualname)
    if inspect.isclass(obj) or inspect.isfunction(obj):
        assert obj.__module__ == module, f"{module}.{qualname} is defined in {obj.__module__}, not there"
        assert obj.__qualname__ == qualname


@pytest.mark.parametrize(("what", "implementation", "cites"), PAPER_PARTS, ids=[p[0] for p in PAPER_PARTS])
def test_every_part_of_the_papers_figure_1_is_a_box(what: str, implementation: str, cites: str) -> None:
    parts = _parts_implemented_by(implementation)
    assert parts, f"no box for {what} labelled {implementation}"
    assert all(cites in part.title and "§" in part.title for part in parts)


def test_both_attention_branches_have_their_lstm_and_classifier_with_alpha_c_and_z() -> None:
    for implementation in ("lstmattn.model.attention.LSTMAttention", "lstmattn.model.heads.ImageClassificationHead"):
        assert sorted(part.role for part in _parts_implemented_by(implementation)) == ["negative", "positive"]
    for part in _parts_implemented_by("lstmattn.model.attention.LSTMAttention"):
        detail = " ".join(part.detail)
        assert all(symbol in detail for symbol in (r"\alpha", "$c =", "$z$", "LSTM", "o' = z + c")), part.key
    assert {frame.qualname for frame in FRAMES} == {"OneShotLSTMAttention", "AttentionLayer"}


def test_links_wire_the_figure_as_the_paper_does() -> None:
    assert all(link.source in PARTS_BY_KEY and link.target in PARTS_BY_KEY for link in LINKS)
    kinds = {(link.source, link.target): link.kind for link in LINKS}
    assert kinds[("roi_heads", "roi_classification")] == "weights"  # §3.6: the red dotted arrow with a cross
    assert kinds[("roi_classification", "rois")] == "batch"
    assert kinds[("seg_labels", "seg_loss")] == kinds[("image_label", "cls_loss")] == "label"
    successors: dict[str, set[str]] = {key: set() for key in PARTS_BY_KEY}
    for link in LINKS:
        successors[link.source].add(link.target)

    def reachable(start: str) -> set[str]:
        seen, todo = {start}, [start]
        while todo:
            for nxt in successors[todo.pop()] - seen:
                seen.add(nxt)
                todo.append(nxt)
        return seen

    labels = {link.source for link in LINKS if link.kind == "label"}
    assert reachable("input") | labels == set(PARTS_BY_KEY)  # the slice reaches every box but the labels
    assert all("total_loss" in reachable(key) for key in PARTS_BY_KEY)  # and every box reaches L_TOTAL


def test_boxes_lie_on_the_canvas_without_overlapping() -> None:
    width, height = CANVAS

    def bounds(part: Part) -> tuple[float, float, float, float]:
        (x, y), (w, h) = part.centre, part.size
        return x - w / 2, y - h / 2, x + w / 2, y + h / 2

    for part in PARTS:
        x0, y0, x1, y1 = bounds(part)
        assert 0 <= x0 and x1 <= width and 0 <= y0 and y1 <= height, part.key
    for i, a in enumerate(PARTS):
        for b in PARTS[i + 1:]:
            (ax0, ay0, ax1, ay1), (bx0, by0, bx1, by1) = bounds(a), bounds(b)
            assert ax1 <= bx0 or bx1 <= ax0 or ay1 <= by0 or by1 <= ay0, f"{a.key} overlaps {b.key}"
    for frame in FRAMES:
        x0, y0, x1, y1 = frame.rect
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
