"""A two-class (Negative vs COVID-19) view of three-class COVIDx-format data.

Table 4 (§4.4) evaluates a two-class variant of the model on iCTCF (0 negative,
1 COVID-19). Where iCTCF is not available, the phantom stand-in keeps the Normal and
COVID-19 slices of a three-class set and relabels them the iCTCF way; common-pneumonia
slices are left out, as iCTCF has no such class.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch
from torch.utils.data import Dataset

__all__ = ["THREE_TO_TWO", "TwoClassView"]

#: Three-class COVIDx code → two-class iCTCF label (CP, code 1, has no two-class label).
THREE_TO_TWO: dict[int, int] = {0: 0, 2: 1}


class _LabelledDataset(Protocol):
    labels: list[int]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, Any]]: ...


class TwoClassView(Dataset):
    """The Normal and COVID-19 items of ``base`` with labels 0 (Negative) and 1 (COVID-19).

    ``base`` must expose ``labels`` (three-class codes, read without loading images),
    as :class:`~lstmattn.data.covidx.CovidxClassificationDataset` does.
    """

    def __init__(self, base: _LabelledDataset) -> None:
        self.base = base
        self.indices = [i for i, label in enumerate(base.labels) if label in THREE_TO_TWO]
        self._labels = [THREE_TO_TWO[base.labels[i]] for i in self.indices]

    @property
    def labels(self) -> list[int]:
        """Two-class label of every item, in order."""
        return list(self._labels)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, Any]]:
        image, target = self.base[self.indices[index]]
        return image, {**target, "image_label": torch.tensor(self._labels[index], dtype=torch.int64)}
