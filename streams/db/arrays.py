"""Float arrays sent to PostgreSQL as `real[]` in the binary protocol, encoded by numpy.

psycopg's generic list dumper handles each value in Python (for 2,000-pad boards it cost about 5 ms per
array, most of a batch's write time: `spi-crrn bench storage`). `Float4Array` wraps a (P,) array; its
dumper writes PostgreSQL's binary array format in one numpy call:

    int32 ndim (1), int32 has_nulls (0), uint32 element oid (700 = real),
    int32 length P, int32 lower bound (1), then P times: int32 4, float32 value (all big-endian).

The dumper is registered in psycopg's global adapters when this module is imported, so every
connection opened afterwards knows the type (the writer imports it at import time).
"""

from __future__ import annotations

import struct

import numpy as np
import psycopg
from psycopg.adapt import Dumper
from psycopg.pq import Format

FLOAT4_OID = 700
FLOAT4_ARRAY_OID = 1021  # real[] (_float4)


class Float4Array:
    """A (P,) array of float32 values to store in a `real[]` column (NaN and inf pass unchanged)."""

    __slots__ = ("values",)

    def __init__(self, values: np.ndarray) -> None:
        self.values = np.ascontiguousarray(values, dtype=np.float32).reshape(-1)

    def __repr__(self) -> str:
        return f"Float4Array({self.values.size} values)"


def encode_float4_array(values: np.ndarray) -> bytes:
    """PostgreSQL's binary form of a one-dimensional real[] without NULLs."""
    v = np.asarray(values, dtype=np.float32).reshape(-1)
    if v.size == 0:
        return struct.pack(">iiI", 0, 0, FLOAT4_OID)
    body = np.empty(v.size, dtype=[("length", ">i4"), ("value", ">f4")])
    body["length"] = 4
    body["value"] = v
    return struct.pack(">iiIii", 1, 0, FLOAT4_OID, v.size, 1) + body.tobytes()


class Float4ArrayDumper(Dumper):
    """psycopg dumper: `Float4Array` -> real[] in binary."""

    format = Format.BINARY
    oid = FLOAT4_ARRAY_OID

    def dump(self, obj: Float4Array) -> bytes:
        return encode_float4_array(obj.values)


psycopg.adapters.register_dumper(Float4Array, Float4ArrayDumper)
