"""Property-based tests of the list parsers and the label map → instance conversion: any
input gives a result or a LstmattnError, never another exception; a list saved with a
byte-order mark or CRLF line ends reads the same as the original."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lstmattn.data.covidx import parse_class_digit_list, parse_covidx_split, read_covidx_split
from lstmattn.data.ictcf import parse_ictcf_split
from lstmattn.data.instances import label_map_to_instances, unexpected_values
from lstmattn.data.splits import canonical_list_bytes, parse_name_list, read_name_list
from lstmattn.errors import LstmattnError

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

PARSERS = (parse_name_list, read_name_list, parse_covidx_split, read_covidx_split, parse_ictcf_split, parse_class_digit_list)

_fields = st.sampled_from(["0", "1", "2", "-3", "512", "x", "a.png", "0_nCT1.jpg", "2_pCT9.jpg", "2_341_1834_0022.png",
                           "NCP_1_2_3.png", "\ufeff", "\t"])
_lines = st.lists(_fields, max_size=7).map(" ".join)
_line_ends = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def _list_files(draw: st.DrawFn) -> bytes:
    """Mostly list-shaped bytes (names, numbers, mixed line ends, BOMs), sometimes raw."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=200))
    lines = draw(st.lists(_lines | st.text(max_size=20), max_size=8))
    text = "".join(line + draw(_line_ends) for line in lines)
    prefix = b"\xef\xbb\xbf" if draw(st.booleans()) else b""
    return prefix + text.encode("utf-8", "surrogatepass")


@SETTINGS
@given(data=_list_files())
def test_list_parsers_return_or_raise_lstmattn_errors(tmp_path: Path, data: bytes):
    path = tmp_path / "list.txt"
    path.write_bytes(data)
    for parse in PARSERS:
        try:
            parse(path)
        except LstmattnError as error:
            assert "\n" not in str(error)


@SETTINGS
@given(
    names=st.lists(st.from_regex(r"[A-Za-z0-9_.-]{1,12}", fullmatch=True), max_size=6, unique=True),
    line_end=_line_ends,
    bom=st.booleans(),
)
def test_bom_and_line_ends_do_not_change_a_list(tmp_path: Path, names: list[str], line_end: str, bom: bool):
    original, variant = tmp_path / "lf.txt", tmp_path / "variant.txt"
    original.write_bytes("".join(f"{name}\n" for name in names).encode())
    variant.write_bytes((b"\xef\xbb\xbf" if bom else b"") + "".join(name + line_end for name in names).encode())
    assert parse_name_list(variant) == parse_name_list(original) == (names, [])
    assert canonical_list_bytes(variant.read_bytes()) == original.read_bytes()


_label_maps = hnp.arrays(
    dtype=st.sampled_from([np.uint8, np.int16, np.int64, np.uint64, np.bool_, np.float32]),
    shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=9),
    elements=None,
) | hnp.arrays(np.uint8, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=12), elements=st.integers(0, 3))
_tables = st.dictionaries(
    st.integers(-(2**65), 2**65) | st.integers(0, 3) | st.sampled_from([1.5, "1", None]),
    st.integers(-(2**65), 2**65) | st.integers(1, 3) | st.sampled_from([2.0, "2"]),
    max_size=4,
)


@SETTINGS
@given(label_map=_label_maps, table=_tables, min_area=st.integers(-2, 5) | st.sampled_from([1.5, None]))
def test_label_map_to_instances_returns_instances_or_raises_lstmattn_error(label_map, table, min_area):
    try:
        boxes, labels, masks = label_map_to_instances(label_map, table, min_area)
    except LstmattnError as error:
        assert "\n" not in str(error)
        return
    height, width = label_map.shape
    assert boxes.shape == (len(labels), 4) and masks.shape == (len(labels), height, width)
    assert set(labels.tolist()) <= set(table.values())
    assert all(int(mask.sum()) > min_area for mask in masks)
    for box, mask in zip(boxes.long().tolist(), masks):
        x0, y0, x1, y1 = box
        assert int(mask[y0:y1, x0:x1].sum()) == int(mask.sum())


@SETTINGS
@given(label_map=_label_maps, allowed=st.lists(st.integers(-(2**65), 2**65) | st.integers(0, 3), max_size=4))
def test_unexpected_values_returns_or_raises_lstmattn_error(label_map, allowed):
    try:
        unknown = unexpected_values(label_map, allowed)
    except LstmattnError:
        return
    assert set(unknown).isdisjoint(allowed) and unknown == sorted(unknown)
