"""The visual layer (layer 5; ARCHITECTURE.md): colours, overlays, the attention
explanation and the figures of the book's chapters. Draws from the model, the engine and
result files; never trains (no :mod:`lstmattn.engine.trainer`) and never imports
:mod:`lstmattn.tables`.

* :mod:`~lstmattn.viz.style`: every colour and palette, defined once;
* :mod:`~lstmattn.viz.overlays`: lesion masks and α-weighted RoI boxes (PIL), the
  overlay PNG of ``lstmattn predict``;
* :mod:`~lstmattn.viz.hooks`: forward hooks on the real model → :class:`ForwardTrace`;
* :mod:`~lstmattn.viz.attention`: :func:`explain_slice` (α, σ(Δ), lesions of a slice)
  and galleries; :mod:`~lstmattn.viz.walkthrough`: chapter 2's stage table;
* :mod:`~lstmattn.viz.attention_views`: PNG/HTML views of one explanation;
* :mod:`~lstmattn.viz.explorer` (live ipywidgets) and :mod:`~lstmattn.viz.static_viewer`
  (offline HTML; its JavaScript and CSS are ``viz/assets/`` package data);
* :mod:`~lstmattn.viz.data_figures` (chapter 1), :mod:`~lstmattn.viz.model_figures`
  and :mod:`~lstmattn.viz.architecture` (chapter 2; the redrawn Figure 1), :mod:`~lstmattn.viz.segmentation` (chapter 3),
  :mod:`~lstmattn.viz.attention_figures` (chapter 6);
* :mod:`~lstmattn.viz.prediction_files`: the overlay PNG files of ``lstmattn predict``.

Submodules are imported by name (``from lstmattn.viz.attention import explain_slice``);
importing this package loads none of them.
"""

__all__: list[str] = []
