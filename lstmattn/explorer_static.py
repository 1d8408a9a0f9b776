"""The attention explorer for readers without a kernel: one self-contained HTML block.

:func:`static_viewer_html` turns precomputed explanations (:func:`lstmattn.explorer.gallery`)
into a ``<div>`` holding its own ``<style>``, the data as JSON in a
``<script type="application/json">`` (slice pictures as base64 PNG data URIs, α arrays,
RoI boxes, σ(Δ)) and an inline script that draws everything client-side: the slice with
the β RoI boxes as SVG weighted by α, an SVG bar chart of α along the sequence, the top
RoIs' mask features and the class probabilities. Controls: a slice drop-down plus a
thumbnail strip, branch buttons (positive/negative) and RoI-order buttons
(confidence/distance). It loads nothing from anywhere (no CDN, no widget manager, no
URL at all), so it works offline from a built book page or a saved HTML file; show it in
a notebook with ``IPython.display.HTML``.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
from typing import Any, Mapping, Sequence

from PIL import Image

from lstmattn.engine.overlays import BRANCH_COLOURS
from lstmattn.engine.predict import SEGMENTATION_NAMES
from lstmattn.explorer import BRANCHES, ORDERS, AttentionExplanation, base_panel, feature_rgb

__all__ = ["viewer_data", "static_viewer_html"]

_ALPHA_DECIMALS = 6


def _data_uri(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


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
        "labels": [SEGMENTATION_NAMES.get(int(v), "background") for v in explanation.roi_labels],
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
                "name": any_explanation.source.replace("\\", "/").rsplit("/", 1)[-1],
                "source": any_explanation.source,
                "label": any_explanation.label_name,
                "width": width,
                "height": height,
                "lesions": {
                    "GGO": sum(lesion.label == 2 for lesion in any_explanation.lesions),
                    "consolidation": sum(lesion.label == 3 for lesion in any_explanation.lesions),
                },
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
        "colours": {branch: "#{:02x}{:02x}{:02x}".format(*BRANCH_COLOURS[branch]) for branch in BRANCHES},
        "topK": top_k,
        "displaySize": display_size,
        "slices": slices,
    }


def _script_json(data: Any) -> str:
    """JSON safe inside a ``<script>`` element (no ``</script>``, ``<!--`` or ``&`` can appear)."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


_STYLE = """
#@ID@ { font-family: system-ui, sans-serif; font-size: 14px; color: #222; max-width: 960px; }
#@ID@ .lsa-controls { display: flex; flex-wrap: wrap; gap: 10px; align-items: center; margin: 4px 0; }
#@ID@ button { border: 1px solid #888; background: #f4f4f4; color: #222; padding: 3px 9px; border-radius: 3px; cursor: pointer; font-size: 13px; }
#@ID@ button[aria-pressed="true"] { background: #333; color: #fff; }
#@ID@ button:disabled { opacity: 0.4; cursor: default; }
#@ID@ .lsa-thumbs { display: flex; flex-wrap: wrap; gap: 4px; margin: 4px 0 8px; }
#@ID@ .lsa-thumbs img { width: 48px; height: 48px; object-fit: cover; border: 2px solid transparent; cursor: pointer; }
#@ID@ .lsa-thumbs img.lsa-current { border-color: #e08000; }
#@ID@ .lsa-main { display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start; }
#@ID@ .lsa-stage { position: relative; line-height: 0; display: inline-block; }
#@ID@ .lsa-stage img { display: block; }
#@ID@ .lsa-stage svg { position: absolute; left: 0; top: 0; width: 100%; height: 100%; }
#@ID@ .lsa-feats { display: flex; flex-wrap: wrap; gap: 12px; }
#@ID@ .lsa-feats figure { margin: 0; font-size: 12px; text-align: center; }
#@ID@ .lsa-feats img { width: 84px; height: 84px; image-rendering: pixelated; display: block; margin: 0 auto 2px; }
#@ID@ .lsa-small { font-size: 12px; color: #555; margin: 3px 0; }
#@ID@ .lsa-whatif { color: #a60; }
#@ID@ table { border-collapse: collapse; margin: 4px 0; }
#@ID@ td, #@ID@ th { padding: 1px 6px; text-align: left; font-size: 13px; }
#@ID@ .lsa-pbar { background: #888; height: 8px; }
"""

_SCRIPT = r"""
(function () {
  var root = (document.currentScript && document.currentScript.parentNode && document.currentScript.parentNode.id === "@ID@")
    ? document.currentScript.parentNode : document.getElementById("@ID@");
  if (!root || root.getAttribute("data-ready") === "1") { return; }
  root.setAttribute("data-ready", "1");
  var data = JSON.parse(root.querySelector('script[data-role="data"]').textContent);
  var $ = function (role) { return root.querySelector('[data-role="' + role + '"]'); };
  var state = { slice: 0, branch: "positive", order: data.trainedOrder, hl: -1 };
  var esc = function (text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  };
  var fmt = function (v, n) { return Number(v).toFixed(n); };
  var current = function () {
    var s = data.slices[state.slice];
    var order = s.orders[state.order] ? state.order : Object.keys(s.orders)[0];
    return { s: s, order: order, r: s.orders[order] };
  };

  var select = $("slice"), thumbs = $("thumbs");
  data.slices.forEach(function (s, i) {
    var option = document.createElement("option");
    option.value = String(i);
    option.textContent = i + ": " + s.name + (s.label ? " (" + s.label + ")" : "");
    select.appendChild(option);
    var thumb = document.createElement("img");
    thumb.src = s.image;
    thumb.alt = s.name;
    thumb.title = s.name + (s.label ? " (true class " + s.label + ")" : "");
    thumb.setAttribute("data-index", String(i));
    thumb.addEventListener("click", function () { state.slice = i; state.hl = -1; render(); });
    thumbs.appendChild(thumb);
  });
  select.addEventListener("change", function () { state.slice = Number(select.value); state.hl = -1; render(); });
  Array.prototype.forEach.call(root.querySelectorAll("button[data-branch]"), function (button) {
    button.addEventListener("click", function () { state.branch = button.getAttribute("data-branch"); render(); });
  });
  Array.prototype.forEach.call(root.querySelectorAll("button[data-order]"), function (button) {
    var order = button.getAttribute("data-order");
    button.textContent = order + (order === data.trainedOrder ? " (trained)" : " (what-if)");
    button.addEventListener("click", function () { state.order = order; state.hl = -1; render(); });
  });

  function drawBoxes(c) {
    var s = c.s, r = c.r, alpha = r.alpha[state.branch], colour = data.colours[state.branch];
    var peak = Math.max.apply(null, alpha) || 1, side = Math.max(s.width, s.height);
    var svg = $("boxes");
    svg.setAttribute("viewBox", "0 0 " + s.width + " " + s.height);
    var positions = alpha.map(function (_, k) { return k; }).sort(function (a, b) { return alpha[a] - alpha[b]; });
    var parts = [];
    positions.forEach(function (k) {
      var b = r.boxes[k], w = alpha[k] / peak;
      if (b[2] <= b[0] || b[3] <= b[1]) { return; }
      parts.push('<rect data-k="' + k + '" x="' + b[0] + '" y="' + b[1] + '" width="' + (b[2] - b[0]) + '" height="' + (b[3] - b[1]) +
        '" fill="none" stroke="' + colour + '" stroke-opacity="' + fmt(Math.max(0.1, w), 3) + '" stroke-width="' + fmt(0.5 + 3.5 * w, 2) +
        '" vector-effect="non-scaling-stroke"><title>RoI ' + k + ": α=" + fmt(alpha[k], 4) + ", " + esc(r.labels[k]) +
        " (score " + fmt(r.scores[k], 3) + ")</title></rect>");
    });
    var font = side / 18;
    r.top[state.branch].forEach(function (t, rank) {
      var b = r.boxes[t.pos];
      parts.push('<text x="' + (b[0] + font * 0.2) + '" y="' + (b[1] + font) + '" font-size="' + fmt(font, 1) +
        '" font-weight="bold" fill="' + colour + '" stroke="#000" stroke-width="' + fmt(font / 8, 2) + '" paint-order="stroke">' + (rank + 1) + "</text>");
    });
    if (state.hl >= 0) {
      var b = r.boxes[state.hl];
      parts.push('<rect x="' + b[0] + '" y="' + b[1] + '" width="' + (b[2] - b[0]) + '" height="' + (b[3] - b[1]) +
        '" fill="#ffffff" fill-opacity="0.15" stroke="#ffffff" stroke-width="2" stroke-dasharray="4 3" vector-effect="non-scaling-stroke"></rect>');
    }
    svg.innerHTML = parts.join("");
  }

  function drawBars(c) {
    var r = c.r, alpha = r.alpha[state.branch], colour = data.colours[state.branch], beta = alpha.length;
    var W = 480, H = 230, left = 46, right = 10, top = 26, bottom = 40;
    var plotW = W - left - right, plotH = H - top - bottom;
    var ymax = Math.max(Math.max.apply(null, alpha), 1 / beta) * 1.15;
    var step = plotW / beta, bw = Math.max(1, step * 0.8);
    var y = function (v) { return top + plotH * (1 - v / ymax); };
    var topSet = {};
    r.top[state.branch].forEach(function (t, rank) { topSet[t.pos] = rank + 1; });
    var parts = ['<rect x="0" y="0" width="' + W + '" height="' + H + '" fill="#ffffff"></rect>'];
    parts.push('<text x="' + (W / 2) + '" y="16" text-anchor="middle" font-size="13">' + esc(state.branch) + " branch (x_" +
      esc(state.branch.slice(0, 3).toUpperCase()) + "): α over β = " + beta + " RoIs</text>");
    for (var tick = 0; tick <= 4; tick++) {
      var v = ymax * tick / 4;
      parts.push('<line x1="' + left + '" x2="' + (W - right) + '" y1="' + fmt(y(v), 1) + '" y2="' + fmt(y(v), 1) + '" stroke="#eee"></line>');
      parts.push('<text x="' + (left - 4) + '" y="' + fmt(y(v) + 4, 1) + '" text-anchor="end" font-size="10">' + fmt(v, 3) + "</text>");
    }
    alpha.forEach(function (a, k) {
      var x = left + k * step + (step - bw) / 2, rank = topSet[k];
      parts.push('<rect class="lsa-bar" data-k="' + k + '" data-alpha="' + a + '" x="' + fmt(x, 2) + '" y="' + fmt(y(a), 2) + '" width="' + fmt(bw, 2) +
        '" height="' + fmt(top + plotH - y(a), 2) + '" fill="' + colour + '"' + (rank ? ' stroke="#000" stroke-width="1.5"' : "") +
        (k === state.hl ? ' fill-opacity="0.6"' : "") + "><title>RoI " + k + ": α=" + fmt(a, 4) + ", " + esc(r.labels[k]) +
        " (score " + fmt(r.scores[k], 3) + ")</title></rect>");
      if (rank) {
        parts.push('<text x="' + fmt(x + bw / 2, 2) + '" y="' + fmt(y(a) - 3, 2) + '" text-anchor="middle" font-size="10">' + rank + "</text>");
      }
      if (beta <= 24 || k % 4 === 0) {
        parts.push('<text x="' + fmt(x + bw / 2, 2) + '" y="' + (top + plotH + 13) + '" text-anchor="middle" font-size="10">' + k + "</text>");
      }
    });
    parts.push('<line x1="' + left + '" x2="' + (W - right) + '" y1="' + fmt(y(1 / beta), 2) + '" y2="' + fmt(y(1 / beta), 2) +
      '" stroke="#666" stroke-dasharray="5 4"><title>uniform 1/β</title></line>');
    parts.push('<text x="' + (left + 3) + '" y="' + fmt(y(1 / beta) - 4, 2) + '" font-size="10" fill="#666">uniform 1/β</text>');
    parts.push('<line x1="' + left + '" x2="' + (W - right) + '" y1="' + (top + plotH) + '" y2="' + (top + plotH) + '" stroke="#333"></line>');
    parts.push('<text x="' + (left + plotW / 2) + '" y="' + (H - 6) + '" text-anchor="middle" font-size="11">position in the RoI sequence (' +
      esc(c.order) + " order)</text>");
    var bars = $("bars");
    bars.setAttribute("viewBox", "0 0 " + W + " " + H);
    bars.innerHTML = parts.join("");
  }

  function drawProbs(c) {
    var s = c.s, r = c.r, rows = "";
    data.classNames.forEach(function (name, k) {
      var p = r.probs[k];
      rows += '<tr style="font-weight:' + (k === r.predicted ? "bold" : "normal") + '"><td>' + esc(name) + '</td><td>' + fmt(p, 3) +
        '</td><td><div class="lsa-pbar" style="width:' + Math.round(100 * p) + 'px"></div></td></tr>';
    });
    $("probs").innerHTML = "<div>" + (s.label ? "true class: <b>" + esc(s.label) + "</b> · " : "") + "predicted: <b>" +
      esc(data.classNames[r.predicted]) + "</b></div><table><tr><th>class</th><th>σ(Δ)</th><th></th></tr>" + rows + "</table>" +
      '<div class="lsa-small">σ(Δ) per class (Eq. 9, multilabel: need not sum to 1). Detected lesions: ' + s.lesions.GGO +
      " GGO, " + s.lesions.consolidation + " consolidation. RoIs before padding to β: " + r.numDistinct + ".</div>";
  }

  function drawFeatures(c) {
    var s = c.s, r = c.r, box = $("features");
    box.innerHTML = "";
    r.top[state.branch].forEach(function (t, rank) {
      var figure = document.createElement("figure"), img = document.createElement("img"), caption = document.createElement("figcaption");
      img.src = s.features[t.feature];
      img.alt = "mask features of RoI " + t.pos;
      caption.textContent = "#" + (rank + 1) + ": RoI " + t.pos + ", α=" + fmt(t.alpha, 3) + ", " + r.labels[t.pos];
      figure.appendChild(img);
      figure.appendChild(caption);
      figure.addEventListener("mouseenter", function () { state.hl = t.pos; drawBoxes(c); });
      figure.addEventListener("mouseleave", function () { state.hl = -1; drawBoxes(c); });
      box.appendChild(figure);
    });
  }

  $("bars").addEventListener("mouseover", function (event) {
    var k = event.target.getAttribute && event.target.getAttribute("data-k");
    if (k !== null && k !== undefined) { state.hl = Number(k); drawBoxes(current()); }
  });
  $("bars").addEventListener("mouseleave", function () { state.hl = -1; drawBoxes(current()); });

  function render() {
    var c = current();
    state.order = c.order;
    select.value = String(state.slice);
    Array.prototype.forEach.call(thumbs.children, function (thumb, i) { thumb.className = i === state.slice ? "lsa-current" : ""; });
    Array.prototype.forEach.call(root.querySelectorAll("button[data-branch]"), function (button) {
      button.setAttribute("aria-pressed", String(button.getAttribute("data-branch") === state.branch));
    });
    Array.prototype.forEach.call(root.querySelectorAll("button[data-order]"), function (button) {
      var order = button.getAttribute("data-order");
      button.setAttribute("aria-pressed", String(order === c.order));
      button.disabled = !c.s.orders[order];
    });
    var image = $("image");
    image.src = c.s.image;
    image.alt = "CT slice " + c.s.name;
    image.width = Math.round(c.s.width * data.displaySize / Math.max(c.s.width, c.s.height));
    image.height = Math.round(c.s.height * data.displaySize / Math.max(c.s.width, c.s.height));
    var note = $("note");
    note.textContent = c.r.note;
    note.className = "lsa-small" + (c.r.whatIf ? " lsa-whatif" : "");
    drawBoxes(c);
    drawBars(c);
    drawProbs(c);
    drawFeatures(c);
  }
  render();
})();
"""


def static_viewer_html(entries: Sequence[Any], *, display_size: int = 320, top_k: int = 3, title: str | None = None) -> str:
    """A self-contained HTML viewer of precomputed attention explanations.

    Args:
        entries: one item per slice: a dict ``{order: AttentionExplanation}`` as returned by
            :func:`lstmattn.explorer.gallery` (both orders give the order buttons), or a
            single explanation.
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
        f"<style>{_STYLE.replace('@ID@', uid)}</style>{heading}"
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
        '<div class="lsa-small">Boxes: the β RoIs of the sequence, line width and opacity ∝ α / max α; '
        "numbers: rank by α. GGO yellow, consolidation red. Hover a bar to find its box.</div></div>"
        '<div style="max-width:490px"><svg data-role="bars" width="480" height="230" role="img" aria-label="alpha bar chart"></svg>'
        '<div data-role="probs"></div></div>'
        "</div>"
        f'<div class="lsa-small">Top-{top_k} RoIs by α: mask features (§3.6) averaged over channels, '
        "min-max scaled per RoI (magma colour map).</div>"
        '<div class="lsa-feats" data-role="features"></div>'
        f'<script type="application/json" data-role="data">{payload}</script>'
        f"<script>{_SCRIPT.replace('@ID@', uid)}</script>"
        "</div>"
    )
