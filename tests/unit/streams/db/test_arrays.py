"""The binary real[] encoding, byte by byte on hand-computed values."""

from __future__ import annotations

import numpy as np

from streams.db.arrays import Float4Array, encode_float4_array


def test_two_values() -> None:
    # 1.0f = 0x3f800000, -2.5f = 0xc0200000
    want = bytes.fromhex(
        "00000001" "00000000" "000002bc"  # ndim 1, no nulls, element oid 700
        "00000002" "00000001"  # length 2, lower bound 1
        "00000004" "3f800000" "00000004" "c0200000"
    )  # fmt: skip
    assert encode_float4_array(np.array([1.0, -2.5])) == want


def test_empty_array_has_no_dimension() -> None:
    assert encode_float4_array(np.array([])) == bytes.fromhex("0000000000000000000002bc")


def test_wrapper_keeps_float32_values() -> None:
    a = Float4Array(np.array([[0.1, 2.0]]))
    assert a.values.dtype == np.float32
    assert a.values.tolist() == [float(np.float32(0.1)), 2.0]
