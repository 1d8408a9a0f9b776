"""Chapter 2's redrawing of the paper's Figure 1 (§3.2): every box labelled with the
module and class or function of :mod:`lstmattn` that implements it.

The diagram's content is data: :data:`PARTS` (the boxes), :data:`LINKS` (the arrows,
styled as Figure 1's: data, batches, labels, the weight copy) and :data:`FRAMES` (the
whole model and the attention layer). Implementations are named as strings (a module and
a qualified name in it) so that drawing the figure imports no model code;
``tests/test_architecture_figure.py`` resolves every name, so renaming a module or a
class fails a test instead of leaving a stale label.

Coordinates are inches on a canvas of :data:`CANVAS` (width, height), the size of the
figure, so that 7 pt labels stay 7 pt at book width.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, Mapping

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Patch
from matplotlib.path import Path as MplPath

from lstmattn.viz.style import DIAGRAM_COLOURS, branch_hex

__all__ = [
    "CANVAS", "LEGEND_BAND", "ROLE_COLOURS", "Part", "Link", "Frame", "PARTS", "LINKS", "FRAMES", "plot_architecture",
]

Point = tuple[float, float]
Role = Literal["shared", "segmentation", "classification", "positive", "negative", "loss"]
Side = Literal["t", "b", "l", "r"]
LinkKind = Literal["data", "batch", "label", "weights"]
LineStyle = str | tuple[float, tuple[float, ...]]

CANVAS: Point = (8.0, 10.0)
"""Width and height in inches of the drawing; every coordinate below is on it. The figure
adds a band of :data:`LEGEND_BAND` inches below it for the legend."""

LEGEND_BAND = 0.45
"""Height in inches of the legend below the drawing."""

ROLE_COLOURS: Mapping[Role, tuple[str, str]] = MappingProxyType({
    **{role: (DIAGRAM_COLOURS[f"{role} fill"], DIAGRAM_COLOURS[f"{role} edge"])
       for role in ("shared", "segmentation", "classification", "loss")},
    "positive": (DIAGRAM_COLOURS["classification fill"], branch_hex("positive")),
    "negative": (DIAGRAM_COLOURS["classification fill"], branch_hex("negative")),
})
"""Role → (fill, edge) of a box. As in the paper's Figure 1, the full segmentation branch
is purple and the full classification branch green; the two attention branches keep the
book's x_POS / x_NEG colours (:data:`lstmattn.viz.style.BRANCH_COLOURS`)."""

_LINK_STYLES: Mapping[LinkKind, tuple[LineStyle, str, str]] = MappingProxyType({
    "data": ("-", DIAGRAM_COLOURS["ink"], "data"),
    "batch": ((0, (5, 3)), DIAGRAM_COLOURS["ink"], "batch of RoIs"),
    "label": (":", DIAGRAM_COLOURS["ink"], "labels"),
    "weights": (":", DIAGRAM_COLOURS["weight copy"], "weight copy"),
})
"""Link kind → (line style, colour, legend text), the paper's arrow conventions: normal
arrows data, broken arrows batches, dotted arrows labels, the red dotted arrow with a
cross the weight copy (§3.6)."""


@dataclass(frozen=True)
class Part:
    """One box: a part of Figure 1 and the code that implements it.

    ``module`` is an importable module of the package and ``qualname`` a (dotted) name in
    it; the box shows both. ``centre`` and ``size`` are in inches on :data:`CANVAS`.
    """

    key: str
    title: str
    module: str
    qualname: str
    centre: Point
    size: Point
    role: Role
    detail: tuple[str, ...] = ()

    def anchor(self, side: Side, at: float = 0.0) -> Point:
        """The point on ``side`` (top, bottom, left, right) at ``at`` ∈ [−0.5, 0.5] of
        its length from the side's middle."""
        (x, y), (width, height) = self.centre, self.size
        if side in ("t", "b"):
            return (x + at * width, y + (height if side == "t" else -height) / 2)
        return (x + (width if side == "r" else -width) / 2, y + at * height)


@dataclass(frozen=True)
class Link:
    """An arrow from part ``source`` to part ``target``.

    It leaves ``source`` on side ``exit`` and enters ``target`` on side ``entry`` (at the
    offsets ``exit_at`` / ``entry_at`` along them, see :meth:`Part.anchor`), through the
    corners ``via``; with no ``via`` a horizontal exit into a vertical entry (or the
    reverse) turns one right-angled corner, otherwise the arrow is straight. A link may
    name its own implementation (the weight copy does).
    """

    source: str
    target: str
    kind: LinkKind = "data"
    label: str = ""
    exit: Side = "b"
    entry: Side = "t"
    exit_at: float = 0.0
    entry_at: float = 0.0
    via: tuple[Point, ...] = ()
    module: str = ""
    qualname: str = ""


@dataclass(frozen=True)
class Frame:
    """A named group of parts (the whole model, the attention layer), drawn as a dashed
    outline ``rect`` (x0, y0, x1, y1 in inches) with its title and implementation on top."""

    title: str
    module: str
    qualname: str
    rect: tuple[float, float, float, float]


# Columns: the shared stages in the middle, the segmentation branch on the left, the
# classification branch on the right with its positive and negative halves.
_SHARED_X, _SEG_X, _CLS_X, _POS_X, _NEG_X = 4.0, 1.45, 5.6, 4.25, 6.75
_WIDE, _SEG_W, _HALF = (3.4, 0.62), 2.5, 2.3

PARTS: tuple[Part, ...] = (
    Part("input", "CT slice (§3.1)", "lstmattn.model.transform", "PerImageStandardizeTransform",
         (_SHARED_X, 9.05), (3.4, 0.56), "shared", ("resized and standardised per channel",)),
    Part("backbone", "Backbone + FPN (§3.3)", "lstmattn.model.backbone", "build_backbone",
         (_SHARED_X, 8.2), _WIDE, "shared", ("ResNet / ResNeXt → C feature maps",)),
    Part("rpn", "RPN (§3.4)", "lstmattn.model.rpn", "OneShotRPN",
         (_SHARED_X, 7.3), _WIDE, "shared", ("region proposals; loss: box + objectness",)),
    Part("roi_heads", "RoI heads: box + mask (§3.5)", "lstmattn.model.segmentation_branch",
         "segmentation_components", (_SEG_X, 6.2), (_SEG_W, 0.74), "segmentation",
         ("lesion boxes, classes, masks", "(Mask R-CNN's RoI layer)")),
    Part("roi_classification", "RoI classification branch (§3.6)", "lstmattn.model.roi_classification",
         "RoIClassificationBranch", (_CLS_X, 6.2), (2.9, 0.74), "classification",
         ("frozen copies of the box + mask heads", "score every proposal, θ = −0.01")),
    Part("seg_loss", "L_SEG (§3.8, Eq. 8)", "lstmattn.losses", "segmentation_loss",
         (_SEG_X, 5.05), (_SEG_W, 0.74), "segmentation",
         ("RPN: box + objectness;", "RoI: box + class + mask")),
    Part("rois", "β ranked RoIs (§3.6)", "lstmattn.model.roi_classification", "select_rois",
         (_CLS_X, 5.1), (2.9, 0.62), "classification", ("β × C × 28 × 28; order: distance (§4.1),", "confidence (§3.6) an ablation")),
    Part("seg_labels", "Object labels (§3.1)", "lstmattn.labels", "SEGMENTATION_NAMES",
         (_SEG_X, 3.95), (_SEG_W, 0.62), "segmentation", ("boxes, masks; lungs / GGO / C",)),
    Part("sieve", "Mask sieve (§3.7.1)", "lstmattn.model.attention", "MaskSieve",
         (_POS_X, 3.85), (_HALF, 0.62), "classification", ("N × (Conv→BN→ConvT→ReLU)",)),
    Part("vectoriser", "Vectorise (§3.7.1)", "lstmattn.model.attention", "RoIVectoriser",
         (_NEG_X, 3.85), (_HALF, 0.62), "classification", ("→ sequence X: 1 × β × C",)),
    Part("lstm_pos", "LSTM + attention POS (§3.7.2)", "lstmattn.model.attention", "LSTMAttention",
         (_POS_X, 2.72), (_HALF, 0.98), "positive",
         (r"$H, o$ = LSTM($X$), $z$ = Linear($o$)", r"$\alpha = \mathrm{softmax}(H^{T} z)$ over β RoIs",
          r"$c = \Sigma_k\, \alpha_k h_k$,  $o' = z + c$")),
    Part("lstm_neg", "LSTM + attention NEG (§3.7.2)", "lstmattn.model.attention", "LSTMAttention",
         (_NEG_X, 2.72), (_HALF, 0.98), "negative",
         (r"$H, o$ = LSTM($X$), $z$ = Linear($o$)", r"$\alpha = \mathrm{softmax}(H^{T} z)$ over β RoIs",
          r"$c = \Sigma_k\, \alpha_k h_k$,  $o' = z + c$")),
    Part("image_label", "Image label (§3.1)", "lstmattn.labels", "IMAGE_CLASS_NAMES",
         (_SEG_X, 2.75), (_SEG_W, 0.62), "classification", ("Normal / CP / COVID-19",)),
    Part("head_pos", "Image classifier POS (§3.8)", "lstmattn.model.heads", "ImageClassificationHead",
         (_POS_X, 1.55), (_HALF, 0.62), "positive", ("FC → FC → K logits: h(x_POS)",)),
    Part("head_neg", "Image classifier NEG (§3.8)", "lstmattn.model.heads", "ImageClassificationHead",
         (_NEG_X, 1.55), (_HALF, 0.62), "negative", ("FC → FC → K logits: h(x_NEG)",)),
    Part("cls_loss", "L_CLS, Δσ loss (§3.8, Eq. 9-10)", "lstmattn.losses", "delta_sigma_loss",
         (_SEG_X, 1.6), (_SEG_W, 0.62), "classification", ("BCE per class on σ(Δ)",)),
    Part("image_class", "Image class (§3.8, Eq. 9)", "lstmattn.model.heads", "DeltaLogits",
         (_CLS_X, 0.55), (2.9, 0.74), "classification",
         ("Δ = h(x_POS) − h(x_NEG)", "σ(Δ) per class; class = argmax Δ")),
    Part("total_loss", "L_TOTAL (§3.8, Eq. 8)", "lstmattn.losses", "total_loss",
         (_SEG_X, 0.55), (_SEG_W, 0.62), "loss", ("L_SEG + L_CLS, the training objective",)),
)
"""The boxes of Figure 1, top to bottom; each title names the section (and equation)
of the paper the box stands for."""

LINKS: tuple[Link, ...] = (
    Link("input", "backbone"),
    Link("backbone", "rpn"),
    Link("backbone", "roi_heads", label="FPN features", exit="l", entry_at=-0.3),
    Link("backbone", "roi_classification", label="FPN features", exit="r", entry_at=0.35),
    Link("rpn", "roi_heads", label="proposals", exit="l", entry_at=0.3),
    Link("rpn", "roi_classification", label="proposals", exit="r", entry_at=0.14),
    Link("roi_heads", "roi_classification", "weights", "copied when\nL_SEG improves", exit="r", entry="l",
         module="lstmattn.model.roi_classification", qualname="RoIClassificationBranch.sync_from"),
    Link("roi_heads", "seg_loss"),
    Link("seg_labels", "seg_loss", "label", exit="t", entry="b"),
    Link("roi_classification", "rois", "batch"),
    Link("rois", "sieve", "batch", exit="l", entry_at=-0.3),
    Link("sieve", "vectoriser", "batch", exit="r", entry="l"),
    Link("vectoriser", "lstm_pos", label="X", entry_at=0.3),
    Link("vectoriser", "lstm_neg"),
    Link("lstm_pos", "head_pos", label=r"$o'_{POS}$"),
    Link("lstm_neg", "head_neg", label=r"$o'_{NEG}$"),
    Link("head_pos", "image_class", entry_at=(_POS_X - _CLS_X) / 2.9),
    Link("head_neg", "image_class", entry_at=(_NEG_X - _CLS_X) / 2.9),
    Link("image_class", "cls_loss", label="Δ", exit="l", entry="r", via=((2.95, 0.55), (2.95, 1.6))),
    Link("image_label", "cls_loss", "label"),
    Link("seg_loss", "total_loss", exit="l", entry="l", via=((0.08, 5.05), (0.08, 0.55))),
    Link("cls_loss", "total_loss"),
)
"""The arrows of Figure 1."""

FRAMES: tuple[Frame, ...] = (
    Frame("one-shot model (§3.2)", "lstmattn.model.one_shot", "OneShotLSTMAttention",
          (0.02, 0.12, 7.98, 9.6)),
    Frame("attention layer (§3.7)", "lstmattn.model.attention", "AttentionLayer",
          (3.0, 2.12, 7.95, 4.45)),
)
"""The whole model and the attention layer (§3.7: sieve, vectoriser, two LSTMs)."""

_TITLE_PT, _DETAIL_PT, _CODE_PT = 8.0, 7.5, 7.0


def _line_height(text: str, points: float) -> float:
    """Inches a line of ``text`` takes: mathtext (``$...$``) needs more than plain text."""
    return points * (1.55 if "$" in text else 1.3) / 72


def _draw_part(ax: Axes, part: Part) -> None:
    (x, y), (width, height) = part.centre, part.size
    fill, edge = ROLE_COLOURS[part.role]
    ax.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height,
                                boxstyle="round,pad=0,rounding_size=0.06", facecolor=fill, edgecolor=edge, lw=1.2))
    lines = [(part.title, _TITLE_PT, "bold", "sans-serif")]
    lines += [(text, _DETAIL_PT, "normal", "sans-serif") for text in part.detail]
    lines += [(part.module, _CODE_PT, "normal", "monospace"), ("." + part.qualname, _CODE_PT, "normal", "monospace")]
    top = y + sum(_line_height(text, size) for text, size, _, _ in lines) / 2
    for text, size, weight, family in lines:
        step = _line_height(text, size)
        colour = DIAGRAM_COLOURS["code"] if family == "monospace" else "black"
        ax.text(x, top - step / 2, text, ha="center", va="center", fontsize=size, fontweight=weight,
                family=family, color=colour)
        top -= step


def _route(link: Link, parts: Mapping[str, Part]) -> list[Point]:
    start = parts[link.source].anchor(link.exit, link.exit_at)
    end = parts[link.target].anchor(link.entry, link.entry_at)
    if link.via:
        return [start, *link.via, end]
    horizontal_out, horizontal_in = link.exit in ("l", "r"), link.entry in ("l", "r")
    if horizontal_out and not horizontal_in:
        return [start, (end[0], start[1]), end]
    if horizontal_in and not horizontal_out:
        return [start, (start[0], end[1]), end]
    return [start, end]


def _draw_link(ax: Axes, link: Link, parts: Mapping[str, Part]) -> None:
    points = _route(link, parts)
    style, colour, _ = _LINK_STYLES[link.kind]
    codes = [MplPath.MOVETO] + [MplPath.LINETO] * (len(points) - 1)
    ax.add_patch(FancyArrowPatch(path=MplPath(points, codes), arrowstyle="-|>,head_length=5,head_width=2.5",
                                 linestyle=style, color=colour, lw=1.0, shrinkA=0, shrinkB=0))
    (x0, y0), (x1, y1) = points[0], points[1]
    middle = ((x0 + x1) / 2, (y0 + y1) / 2)
    if link.kind == "weights":
        ax.plot(*middle, marker="x", color=colour, markersize=7, mew=1.5)
        ax.text(middle[0], middle[1] + 0.1, link.label, ha="center", va="bottom",
                fontsize=_CODE_PT, color=colour)
        ax.text(middle[0], middle[1] - 0.1, link.qualname.replace(".", "\n."), ha="center", va="top",
                fontsize=_CODE_PT, family="monospace", color=DIAGRAM_COLOURS["code"])
    elif link.label:
        vertical = abs(x1 - x0) < 1e-6
        ax.text(middle[0] + (0.05 if vertical else 0), middle[1] + (0 if vertical else 0.05), link.label,
                ha="left" if vertical else "center", va="center" if vertical else "bottom",
                fontsize=_CODE_PT, style="italic", color=DIAGRAM_COLOURS["ink"])


def _draw_frame(ax: Axes, frame: Frame) -> None:
    x0, y0, x1, y1 = frame.rect
    ax.add_patch(FancyBboxPatch((x0, y0), x1 - x0, y1 - y0, boxstyle="round,pad=0,rounding_size=0.1",
                                facecolor="none", edgecolor=DIAGRAM_COLOURS["frame"], lw=0.9, linestyle=(0, (6, 3))))
    ax.text(x1 - 0.08, y1 - 0.06, f"{frame.title}  {frame.module}.{frame.qualname}", ha="right", va="top",
            fontsize=_CODE_PT, color=DIAGRAM_COLOURS["code"], family="monospace")


def _legend(ax: Axes) -> None:
    handles: list[Patch | Line2D] = [
        Line2D([], [], linestyle=style, color=colour, lw=1.2, label=text)
        for style, colour, text in _LINK_STYLES.values()
    ]
    names: dict[Role, str] = {"shared": "shared", "segmentation": "segmentation branch",
                              "classification": "classification branch", "positive": "x_POS", "negative": "x_NEG"}
    handles += [Patch(facecolor=ROLE_COLOURS[role][0], edgecolor=ROLE_COLOURS[role][1], label=text)
                for role, text in names.items()]
    ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 0.005), ncol=5, fontsize=_CODE_PT,
              frameon=False, handlelength=2.4, columnspacing=1.2, borderaxespad=0.0)


def plot_architecture() -> Figure:
    """§3.2, Figure 1 redrawn: the shared backbone and RPN, the segmentation branch, the RoI
    classification branch and its β ranked RoIs, the attention layer (mask sieve,
    vectoriser, positive and negative LSTM + attention with α, c, z), the two image
    classification modules, Δ, and the losses L_SEG, L_CLS and L_TOTAL; each box names its
    implementation."""
    width, height = CANVAS
    fig = Figure(figsize=(width, height + LEGEND_BAND))
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(0.0, width)
    ax.set_ylim(-LEGEND_BAND, height)
    ax.set_axis_off()
    parts = {part.key: part for part in PARTS}
    for frame in FRAMES:
        _draw_frame(ax, frame)
    for link in LINKS:
        _draw_link(ax, link, parts)
    for part in PARTS:
        _draw_part(ax, part)
    _legend(ax)
    return fig
