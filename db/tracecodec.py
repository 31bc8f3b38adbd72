"""The byte form of a trace chunk: named little-endian columns, compressed. One codec, one format.

A block describes itself: it carries its column names and kinds, so db/ needs no metric list
(the metric registry is trainer.results; a reader asks for names and gets NaN for a name the
block lacks). Layout:

    b"SLTC" | version u8 | points u32 | columns u16 | per column: kind u8, name length u8, name
    | zlib(body)

Body: per column, the 8-byte values byte-shuffled (all first bytes, then all second bytes, …).
Integer columns (`i`, int64) are delta-coded first: steps and sample counts grow by near-constant
amounts, so their deltas shuffle into long runs of equal bytes. Float columns (`f`, float64, NaN
for "not measured") are XORed with the previous value first (Gorilla-style, Pelkonen et al.
2015): neighbouring points of a curve share sign, exponent and leading mantissa bits, which XOR
to zero bytes. Both transforms are exact, so decode(encode(x)) == x bit for bit.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping

import numpy as np

MAGIC = b"SLTC"
VERSION = 1
# zlib level: 6 is zlib's own default; 9 buys ~1% here for twice the CPU.
LEVEL = 6

_HEAD = struct.Struct("<4sBIH")
_COLUMN = struct.Struct("<BB")
_INT, _FLOAT = ord("i"), ord("f")


def encode(columns: Mapping[str, np.ndarray]) -> bytes:
    """Columns of equal length (integer dtypes stored as int64, the rest as float64)."""
    lengths = {len(values) for values in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"columns of different lengths: {sorted(lengths)}")
    n = lengths.pop() if lengths else 0
    head = [_HEAD.pack(MAGIC, VERSION, n, len(columns))]
    body = []
    for name, values in columns.items():
        raw = name.encode()
        if len(raw) > 255:
            raise ValueError(f"column name too long: {name!r}")
        if np.issubdtype(np.asarray(values).dtype, np.integer):
            kind, words = _INT, _delta(np.asarray(values, dtype="<i8"))
        else:
            kind, words = _FLOAT, _xor(np.asarray(values, dtype="<f8"))
        head.append(_COLUMN.pack(kind, len(raw)) + raw)
        body.append(_shuffle(words))
    return b"".join(head) + zlib.compress(b"".join(body), LEVEL)


def decode(data: bytes) -> dict[str, np.ndarray]:
    """The columns of a block, in their stored order: int64 or float64 arrays."""
    magic, version, n, count = _HEAD.unpack_from(data, 0)
    if magic != MAGIC or version != VERSION:
        raise ValueError(f"not a trace block of version {VERSION}: {magic!r} v{version}")
    offset = _HEAD.size
    kinds = []
    for _ in range(count):
        kind, length = _COLUMN.unpack_from(data, offset)
        offset += _COLUMN.size
        kinds.append((data[offset : offset + length].decode(), kind))
        offset += length
    body = np.frombuffer(zlib.decompress(data[offset:]), dtype=np.uint8)
    out: dict[str, np.ndarray] = {}
    for index, (name, kind) in enumerate(kinds):
        words = _unshuffle(body[index * 8 * n : (index + 1) * 8 * n], n)
        if kind == _INT:
            out[name] = np.cumsum(words.view("<i8"), dtype=np.int64)
        else:
            out[name] = np.bitwise_xor.accumulate(words).view("<f8").astype(np.float64)
    return out


def _delta(values: np.ndarray) -> np.ndarray:  # (n,) int64 -> (n,) uint64 words
    deltas = np.diff(values, prepend=np.int64(0)) if len(values) else values
    return deltas.astype("<i8").view("<u8")


def _xor(values: np.ndarray) -> np.ndarray:  # (n,) float64 -> (n,) uint64 words
    words = values.view("<u8")
    out = words.copy()
    out[1:] ^= words[:-1]
    return out


def _shuffle(words: np.ndarray) -> bytes:  # (n,) uint64 -> 8n bytes, byte-plane major
    return words.astype("<u8").view(np.uint8).reshape(-1, 8).T.tobytes()


def _unshuffle(planes: np.ndarray, n: int) -> np.ndarray:  # 8n bytes -> (n,) uint64
    return np.ascontiguousarray(planes.reshape(8, n).T).view("<u8").reshape(n)
