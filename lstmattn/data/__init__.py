"""Data sets: the synthetic CT phantoms (offline default) and loaders for the paper's
real data formats (COVIDx-CT, CNCB segmentation, MedSeg/COVID-SemiSeg, iCTCF,
folder-per-class slices such as the SARS-CoV-2 CT-scan set, DICOM).

Every loader returns images as ``FloatTensor[3, H, W]`` in ``[0, 1]`` (grey replicated
to three channels). The paper's per-image standardisation (§4.1) is applied inside the
model's transform, so the same tensors serve training, evaluation and prediction.

Modules (import them directly; this package imports nothing heavy):
``images`` (read slices and masks), ``dicom`` (CT DICOM → COVIDx 8-bit),
``instances`` (label map → instances), ``splits`` (name lists), ``covidx``,
``cncb``, ``medseg``, ``ictcf``, ``class_folders`` (data sets), ``segmentation`` (their
common base), ``split_lists`` (seeded split lists for sets published without splits),
``joint`` (one-shot sampler, collate), ``manifests``, ``verify``, ``prepare``
(``lstmattn data verify|prepare``), ``windowing``, ``phantom*``.
"""
