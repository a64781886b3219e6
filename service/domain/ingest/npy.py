""".npy bytes (what `numpy.save` writes) read without `numpy.load`, and never unpickled.

`numpy.lib.format` parses every header with `ast.literal_eval`, which is most of the cost of
reading a stored data set of many small columns (digits: 66 members). The headers numpy
writes have one form, matched here directly; any other form goes to `numpy.lib.format`.
Object dtypes are refused from the header alone, before any data is looked at.
"""

from __future__ import annotations

import io
import re

import numpy as np

MAGIC = b"\x93NUMPY"
# numpy's own header: {'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }
HEADER = re.compile(
    rb"\{'descr': '([<>|=]?[a-zA-Z]\d*)', 'fortran_order': (False|True), "
    rb"'shape': \(((?:\d+, )*\d*),?\), \} *\n"
)


class NpyError(ValueError):
    """Bytes that are not a plain numeric or text `.npy` array; str() says what is wrong."""


def npy_header(data: bytes | bytearray) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """Shape, Fortran order, dtype and where the values begin, from a `.npy` header."""
    if data[:6] != MAGIC or len(data) < 10:
        raise NpyError("it does not start as numpy.save writes a .npy file")
    major = data[6]
    if major == 1:
        length, start = int.from_bytes(data[8:10], "little"), 10
    elif major in (2, 3):
        length, start = int.from_bytes(data[8:12], "little"), 12
    else:
        raise NpyError(f"format version {major}.{data[7]} is not one numpy writes")
    found = HEADER.fullmatch(data, start, start + length) if major != 3 else None
    if found is not None:
        dtype = np.dtype(found.group(1).decode())
        shape = tuple(int(n) for n in found.group(3).split(b",") if n.strip())
        return shape, found.group(2) == b"True", dtype, start + length
    return _header_by_numpy(data, major)


def _header_by_numpy(
    data: bytes | bytearray, major: int
) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    if major == 3:
        raise NpyError("format version 3.0 holds structured values; send integers or floats")
    stream = io.BytesIO(data)
    try:
        np.lib.format.read_magic(stream)
        read = (
            np.lib.format.read_array_header_1_0
            if major == 1
            else np.lib.format.read_array_header_2_0
        )
        shape, fortran, dtype = read(stream)
    except (ValueError, OSError, EOFError, SyntaxError, TypeError) as exc:
        raise NpyError(str(exc)) from None
    return shape, fortran, dtype, stream.tell()


def npy_array(data: bytes | bytearray) -> np.ndarray:
    """The array of `.npy` bytes, a view of `data` (writeable if `data` is a bytearray)."""
    shape, fortran, dtype, offset = npy_header(data)
    if dtype.hasobject:
        raise NpyError("it holds Python objects, which are never unpickled here")
    count = 1
    for n in shape:
        count *= n
    if len(data) - offset != count * dtype.itemsize:
        raise NpyError(
            f"it holds {len(data):,} bytes, not what its header describes ({count:,} values "
            f"of {dtype})"
        )
    flat = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
    return flat.reshape(shape, order="F" if fortran else "C")
