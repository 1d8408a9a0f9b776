"""The attention explorer for readers without a kernel: one self-contained HTML block.

:func:`static_viewer_html` turns precomputed explanations (:func:`lstmattn.viz.attention.gallery`)
into a ``<div>`` holding its own ``<style>``, the data as JSON in a
``<script type="application/json">`` (slice pictures as base64 PNG data URIs, α arrays
(Eq. 5), RoI boxes, σ(Δ) (Eq. 9)) and an inline script that draws everything
client-side: the slice with the β RoI boxes as SVG weighted by α, an SVG bar chart of α
along the sequence, the top RoIs' mask features (§3.6) and the class probabilities.
Controls: a slice drop-down plus a thumbnail strip, branch buttons (positive/negative)
and RoI-order buttons (confidence/distance). It loads nothing from anywhere (no CDN, no
widget manager, no URL at all), so it works offline from a built book page or a saved
HTML file; show it in a notebook with ``IPython.display.HTML``.

The script and the styles are package data files, ``lstmattn/viz/assets/viewer.js`` and
``viewer.css``, read with :mod:`importlib.resources`.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from functools import cache
from importlib import resources
from typing import Any, Mapping, Sequence

from PIL import Image

from lstmattn.labels import LESION_NAMES
from lstmattn.viz.attention import BRANCHES, ORDERS, AttentionExplanation
from lstmattn.viz.attention_views import BOX_LEGEND, base_panel, feature_rgb
from lstmattn.viz.overlays import png_bytes
from lstmattn.viz.style import FEATURE_COLORMAP, branch_hex

__all__ = ["viewer_asset", "viewer_data", "static_viewer_html"]

_ALPHA_DECIMALS = 6
_ID = "@ID@"


@cache
def viewer_asset(name: str) -> str:
    """The text of ``lstmattn/viz/assets/<name>`` (``viewer.js`` or ``viewer.css``)."""
    return resources.files("lstmattn.viz").joinpath("assets", name).read_text(encoding="utf-8")


def _data_uri(image: Image.Image) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")


def _normalise(entries: Sequence[Any]) -> list[dict[str, AttentionExplanation]]:
    """Each entry as ``{order: explanation}``; a bare explanation becomes its own entry."""
    normalised = []
    for index, entry in enumerate(entries):
        if isinstance(entry, AttentionExplanation):
            entry = {entry.order: entry}
        if not isinstance(entry, Mapping) or not entry:
            raise ValueError(f"entries[{index}]: expected an AttentionExplanation or a non-empty dict order → explanation")
        for order, explanation in entry.items():
            if order not in ORDERS or not isinstance(explanation, AttentionExplanation) or explanation.order != order:
                raise ValueError(f"entries[{index}][{order!r}]: expected an AttentionExplanation computed with order {order!r}")
        sources = {explanation.source for explanation in entry.values()}
        if len(sources) != 1:
            raise ValueError(f"entries[{index}]: explanations of different slices {sorted(sources)}")
        normalised.append(dict(entry))
    if not normalised:
        raise ValueError("entries: need at least one slice")
    return normalised


def _order_record(explanation: AttentionExplanation, top_k: int, features: dict[str, str]) -> dict[str, Any]:
    top = {}
    for branch in BRANCHES:
        alpha = explanation.alpha(branch)
        positions = explanation.top_rois(branch, top_k)
        for position in positions:
            key = f"{explanation.order}:{position}"
            if key not in features:
                features[key] = _data_uri(Image.fromarray(feature_rgb(explanation.roi_features[position]), mode="RGB"))
        top[branch] = [{"pos": p, "alpha": round(float(alpha[p]), _ALPHA_DECIMALS), "feature": f"{explanation.order}:{p}"} for p in positions]
    return {
        "probs": [round(float(p), 4) for p in explanation.class_probs],
        "predicted": explanation.predicted,
        "whatIf": explanation.is_what_if,
        "note": explanation.note(),
        "numDistinct": explanation.num_distinct,
        "boxes": [[round(float(v), 1) for v in box] for box in explanation.roi_boxes],
        "scores": [round(float(v), 4) for v in explanation.roi_scores],
        "labels": [explanation.roi_label_name(k) for k in range(explanation.beta)],
        "alpha": {branch: [round(float(v), _ALPHA_DECIMALS) for v in explanation.alpha(branch)] for branch in BRANCHES},
        "top": top,
    }


def viewer_data(entries: Sequence[Any], *, display_size: int = 320, top_k: int = 3) -> dict[str, Any]:
    """The JSON document the viewer's script reads (pictures as data URIs)."""
    normalised = _normalise(entries)
    first = next(iter(normalised[0].values()))
    slices = []
    for entry in normalised:
        any_explanation = next(iter(entry.values()))
        height, width = any_explanation.size
        features: dict[str, str] = {}
        orders = {order: _order_record(explanation, top_k, features) for order, explanation in entry.items()}
        slices.append(
            {
                "name": any_explanation.name,
                "source": any_explanation.source,
                "label": any_explanation.label_name,
                "width": width,
                "height": height,
                "lesions": {name: sum(lesion.label == label for lesion in any_explanation.lesions) for name, label in LESION_NAMES.items()},
                "image": _data_uri(base_panel(any_explanation, display_size).convert("RGB")),
                "features": features,
                "orders": orders,
            }
        )
    return {
        "classNames": list(first.class_names),
        "trainedOrder": first.trained_order,
        "branches": list(BRANCHES),
        "orderNames": list(ORDERS),
        "colours": {branch: branch_hex(branch) for branch in BRANCHES},
        "topK": top_k,
        "displaySize": display_size,
        "slices": slices,
    }


def _script_json(data: Any) -> str:
    """JSON safe inside a ``<script>`` element (no ``</script>``, ``<!--`` or ``&`` can appear)."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def static_viewer_html(entries: Sequence[Any], *, display_size: int = 320, top_k: int = 3, title: str | None = None) -> str:
    """A self-contained HTML viewer of precomputed attention explanations.

    Args:
        entries: one item per slice: a dict ``{order: AttentionExplanation}`` as returned by
            :func:`lstmattn.viz.attention.gallery` (both orders give the order buttons), or
            a single explanation.
        display_size: longer side, in pixels, of the pictures embedded as PNG data URIs.
        top_k: how many top RoIs by α get their mask features shown.
        title: optional heading above the viewer.

    Returns an HTML string with no external reference (no ``http(s)`` URL, no CDN script,
    no widget manager): display it with ``IPython.display.HTML`` or write it to a file.
    """
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    data = viewer_data(entries, display_size=display_size, top_k=top_k)
    payload = _script_json(data)
    uid = "lstmattn-explorer-" + hashlib.sha1(payload.encode("ascii")).hexdigest()[:12]
    heading = f"<div style='font-weight:bold;margin:4px 0'>{html.escape(title)}</div>" if title else ""
    branch_buttons = "".join(
        f'<button type="button" data-branch="{b}">{b} (x_{b[:3].upper()})</button>' for b in BRANCHES
    )
    order_buttons = "".join(f'<button type="button" data-order="{o}">{o}</button>' for o in ORDERS)
    return (
        f'<div id="{uid}" class="lstmattn-explorer">'
        f"<style>{viewer_asset('viewer.css').replace(_ID, uid)}</style>{heading}"
        '<div class="lsa-controls">'
        '<label>slice <select data-role="slice"></select></label>'
        f'<span role="group" aria-label="attention branch">branch: {branch_buttons}</span>'
        f'<span role="group" aria-label="RoI order">RoI order: {order_buttons}</span>'
        "</div>"
        '<div class="lsa-thumbs" data-role="thumbs"></div>'
        '<div class="lsa-small" data-role="note"></div>'
        '<div class="lsa-main">'
        f'<div style="max-width:{display_size + 8}px"><div class="lsa-stage"><img data-role="image" alt="CT slice">'
        '<svg data-role="boxes" preserveAspectRatio="none" aria-label="RoI boxes"></svg></div>'
        f'<div class="lsa-small">{html.escape(BOX_LEGEND)} Hover a bar to find its box.</div></div>'
        '<div style="max-width:490px"><svg data-role="bars" width="480" height="230" role="img" aria-label="alpha bar chart"></svg>'
        '<div data-role="probs"></div></div>'
        "</div>"
        f'<div class="lsa-small">Top-{top_k} RoIs by α: mask features (§3.6) averaged over channels, '
        f"min-max scaled per RoI ({FEATURE_COLORMAP} colour map).</div>"
        '<div class="lsa-feats" data-role="features"></div>'
        f'<script type="application/json" data-role="data">{payload}</script>'
        f"<script>{viewer_asset('viewer.js').replace(_ID, uid)}</script>"
        "</div>"
    )
