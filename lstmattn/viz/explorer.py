"""The attention of §3.7 made explorable in a live kernel: an ipywidgets 8 explorer of α
(Eq. 5) over the RoI sequence, per slice. Explanations come from
:func:`lstmattn.viz.attention.explain_slice`'s path (forward hooks on the real model);
:meth:`AttentionExplorer.static_html` gives the same views for readers without a kernel
(:mod:`lstmattn.viz.static_viewer`)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Sequence

from lstmattn.engine.slice_files import SliceInput, load_slice_input
from lstmattn.labels import class_names_for
from lstmattn.viz.attention import (
    ORDERS,
    AttentionExplanation,
    explain_slice,
    explainable_model,
    slice_name,
    trained_order,
)
from lstmattn.viz.attention_views import (
    BOX_LEGEND,
    probabilities_html,
    render_alpha_chart_png,
    render_feature_png,
    render_slice_png,
)
from lstmattn.viz.static_viewer import static_viewer_html
from lstmattn.viz.style import FEATURE_COLORMAP

__all__ = ["AttentionExplorer"]


class AttentionExplorer:
    """An ipywidgets 8 explorer of α for a live kernel.

    Controls: a slice drop-down over ``slices`` (any form
    :func:`~lstmattn.viz.attention.explain_slice` takes) plus an upload button
    (PNG/JPEG/DICOM), the branch (positive/negative) and the RoI order
    (confidence/distance; the untrained one is labelled a what-if). Views: the slice with
    the β RoI boxes of the branch weighted by α, α as a bar chart along the sequence, the
    mask features of the top-``top_k`` RoIs, σ(Δ) per class (Eq. 9).

    Explanations are computed on demand and cached per (slice, order).

    Example:
        >>> explorer = AttentionExplorer(model, gallery_items(data.classification_test))
        >>> explorer.widget()  # displays in a notebook
    """

    def __init__(
        self,
        model: Any,
        slices: Sequence[Any],
        *,
        class_names: Sequence[str] | None = None,
        score_threshold: float = 0.5,
        top_k: int = 3,
        display_size: int = 320,
        checkpoint: str | None = None,
    ) -> None:
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
        if display_size < 32:
            raise ValueError(f"display_size must be at least 32, got {display_size}")
        self.model = explainable_model(model, checkpoint)
        self.class_names = tuple(class_names) if class_names is not None else class_names_for(int(self.model.config.num_image_classes))
        self.slices: list[Any] = list(slices)
        self.names: list[str] = [slice_name(item, i) for i, item in enumerate(self.slices)]
        self.score_threshold = score_threshold
        self.top_k = top_k
        self.display_size = display_size
        self.trained_order = trained_order(self.model)
        self._cache: dict[tuple[int, str], AttentionExplanation] = {}
        self._widget: Any = None

    def explanation(self, index: int, order: str) -> AttentionExplanation:
        """The (cached) explanation of slice ``index`` under ``order``."""
        key = (index, order)
        if key not in self._cache:
            self._cache[key] = explain_slice(
                self.model,
                self.slices[index],
                order=order,
                class_names=self.class_names,
                score_threshold=self.score_threshold,
                index=index,
            )
        return self._cache[key]

    def add_slice(self, item: Any, name: str | None = None) -> int:
        """Append a slice to the gallery (and the drop-down); returns its index."""
        self.slices.append(item)
        self.names.append(name or slice_name(item, len(self.slices) - 1))
        if self._widget is not None:
            self.slice_dropdown.options = self._slice_options()
        return len(self.slices) - 1

    def _slice_options(self) -> list[tuple[str, int]]:
        return [(f"{i}: {name}", i) for i, name in enumerate(self.names)]

    def _order_options(self) -> list[tuple[str, str]]:
        return [(f"{o} (trained)" if o == self.trained_order else f"{o} (what-if)", o) for o in ORDERS]

    def widget(self) -> Any:
        """The explorer as an ipywidgets ``VBox`` (built once, then reused)."""
        if self._widget is not None:
            return self._widget
        import ipywidgets as widgets

        self.slice_dropdown = widgets.Dropdown(options=self._slice_options(), description="slice", layout=widgets.Layout(width="360px"))
        self.upload = widgets.FileUpload(accept=".png,.jpg,.jpeg,.dcm", multiple=False, description="upload slice")
        self.branch_toggle = widgets.ToggleButtons(
            options=[("positive (x_POS)", "positive"), ("negative (x_NEG)", "negative")], value="positive", description="branch"
        )
        self.order_toggle = widgets.ToggleButtons(options=self._order_options(), value=self.trained_order, description="RoI order")
        self.image = widgets.Image(format="png", layout=widgets.Layout(width=f"{self.display_size}px"))
        self.chart = widgets.Image(format="png", layout=widgets.Layout(width="480px"))
        self.probabilities = widgets.HTML()
        self.note = widgets.HTML()
        self.status = widgets.HTML()
        self.feature_images = [widgets.Image(format="png", layout=widgets.Layout(width="96px")) for _ in range(self.top_k)]
        self.feature_labels = [widgets.Label() for _ in range(self.top_k)]
        features = widgets.HBox([widgets.VBox([img, lab]) for img, lab in zip(self.feature_images, self.feature_labels)])
        legend = widgets.HTML(f"<small>{BOX_LEGEND}</small>")
        feature_caption = widgets.HTML(
            f"<small>Top-{self.top_k} RoIs by α: mask features (§3.6) averaged over channels, "
            f"min-max scaled per RoI ({FEATURE_COLORMAP}).</small>"
        )
        self._widget = widgets.VBox(
            [
                widgets.HBox([self.slice_dropdown, self.upload]),
                self.branch_toggle,
                self.order_toggle,
                self.note,
                widgets.HBox([widgets.VBox([self.image, legend]), widgets.VBox([self.chart, self.probabilities])]),
                feature_caption,
                features,
                self.status,
            ]
        )
        for control in (self.slice_dropdown, self.branch_toggle, self.order_toggle):
            control.observe(self._on_change, names="value")
        self.upload.observe(self._on_upload, names="value")
        if self.slices:
            self.refresh()
        else:
            self.status.value = "<i>No slices yet: upload a PNG, JPEG or DICOM slice.</i>"
        return self._widget

    def _on_change(self, _change: Any) -> None:
        self.refresh()

    def _on_upload(self, change: Any) -> None:
        for uploaded in change["new"]:
            name = str(uploaded["name"])
            content = uploaded["content"]
            data = content.tobytes() if hasattr(content, "tobytes") else bytes(content)
            try:
                with tempfile.TemporaryDirectory() as folder:
                    path = Path(folder) / Path(name).name
                    path.write_bytes(data)
                    item = load_slice_input(path)
            except Exception as error:  # DataError names the file; anything else too
                self.status.value = f"<span style='color:#b00'>could not read {name}: {error}</span>"
                continue
            index = self.add_slice(SliceInput(name, item.image, item.instance_number), name)
            self.slice_dropdown.value = index

    def refresh(self) -> None:
        """Recompute the views for the current control values."""
        index = self.slice_dropdown.value
        if index is None:
            return
        branch, order = self.branch_toggle.value, self.order_toggle.value
        try:
            explanation = self.explanation(index, order)
        except Exception as error:
            self.status.value = f"<span style='color:#b00'>{type(error).__name__}: {error}</span>"
            return
        self.status.value = ""
        self.image.value = render_slice_png(explanation, branch, display_size=self.display_size, top_k=self.top_k)
        self.chart.value = render_alpha_chart_png(explanation, branch, top_k=self.top_k)
        self.probabilities.value = probabilities_html(explanation)
        style = "color:#a60" if explanation.is_what_if else "color:#555"
        self.note.value = f"<small style='{style}'>{explanation.note()}</small>"
        alpha = explanation.alpha(branch)
        top = explanation.top_rois(branch, self.top_k)
        for slot, (image, label) in enumerate(zip(self.feature_images, self.feature_labels)):
            if slot < len(top):
                position = top[slot]
                image.value = render_feature_png(explanation.roi_features[position])
                label.value = f"#{slot + 1}: RoI {position}, α={float(alpha[position]):.3f}, {explanation.roi_label_name(position)}"
                image.layout.visibility = "visible"
            else:
                image.value = b""
                label.value = ""
                image.layout.visibility = "hidden"

    def static_html(self, indices: Sequence[int] | None = None, **kwargs: Any) -> str:
        """The offline viewer (:func:`~lstmattn.viz.static_viewer.static_viewer_html`) of
        the chosen slices (default all) under both orders."""
        chosen = range(len(self.slices)) if indices is None else indices
        entries = [{order: self.explanation(i, order) for order in ORDERS} for i in chosen]
        kwargs.setdefault("display_size", self.display_size)
        kwargs.setdefault("top_k", self.top_k)
        return static_viewer_html(entries, **kwargs)
