"""Synthetic chest-CT phantoms: the offline default data set of the companion.

The paper's data (COVIDx CT-1, the CNCB segmentation slices) cannot be downloaded in
every environment, so the package generates a deterministic stand-in: axial chest CT
slices in Hounsfield units with normal anatomy (:mod:`~lstmattn.data.phantom_anatomy`),
class-typical pneumonia lesions (:mod:`~lstmattn.data.phantom_lesions`), scanner blur
and noise, windowed to 8 bits exactly as COVIDx-CT does
(:func:`~lstmattn.data.windowing.hu_to_covidx_uint8`). :func:`write_phantom_dataset`
stores them in the real COVIDx and CNCB formats, so the real loaders read them. A
gallery figure of them is :func:`lstmattn.viz.data_figures.plot_phantom_gallery`.

These images are synthetic phantoms, not patient data; results on them say nothing
about clinical performance.

Example:
    >>> s = generate_slice(2, 0, config=PhantomConfig(image_size=128))
    >>> s.image.shape, s.image.dtype, s.class_id
    ((128, 128), dtype('uint8'), 2)
"""

from __future__ import annotations

from lstmattn.data.phantom_config import (
    DEFAULT_PHANTOM_CONFIG,
    PHANTOM_GENERATOR_VERSION,
    PhantomConfig,
)
from lstmattn.data.phantom_slice import (
    PhantomSlice,
    generate_slice,
    label_map_instances,
)
from lstmattn.data.phantom_writer import SEGMENTATION_CLASS_CYCLE, write_phantom_dataset

__all__ = [
    "PHANTOM_GENERATOR_VERSION",
    "SEGMENTATION_CLASS_CYCLE",
    "PhantomConfig",
    "DEFAULT_PHANTOM_CONFIG",
    "PhantomSlice",
    "generate_slice",
    "label_map_instances",
    "write_phantom_dataset",
]
