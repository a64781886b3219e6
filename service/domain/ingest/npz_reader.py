"""NumPy .npz uploads: ``X`` (n×d numbers), ``y`` (n), optional ``feature_names`` (d).

A 3-D ``X`` (with optional ``lengths``) is a sequence data set (see ``sequences.py``).

For rows to predict (features only) ``y`` may be left out."""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np

from service.domain.ingest.columns import Column, numeric_column, text_column
from service.domain.ingest.dataset import TableRules
from service.domain.ingest.errors import DatasetFormatError, DatasetTooLarge

FIRST_ROW = 1  # rows of X count from 1
TARGET_NAME = "y"
HOW = "save it with np.savez(path, X=features, y=target)"


def read_npz(path: Path, rules: TableRules) -> list[Column]:
    """Parse an .npz (pickle disabled) into numeric feature columns and the ``y`` column."""
    features, target, names, _ = load_npz(path, rules)
    return table_columns(features, target, names, rules)


def load_npz(
    path: Path, rules: TableRules
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """The archive's ``X``, ``y``, ``feature_names`` and ``lengths`` (pickle disabled)."""
    _check_expanded_size(path, rules.max_bytes)
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise DatasetFormatError(
            f"the file is not a readable NumPy .npz archive ({error}); {HOW}"
        ) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DatasetFormatError(f"the file holds a single array, not X and y; {HOW}")
    with archive:
        features = _member(archive, "X")
        with_target = not rules.features_only or "y" in archive.files
        target = _member(archive, "y") if with_target else None
        names = _member(archive, "feature_names") if "feature_names" in archive.files else None
        lengths = _member(archive, "lengths") if "lengths" in archive.files else None
    return features, target, names, lengths


def table_columns(
    features: np.ndarray, target: np.ndarray | None, names: np.ndarray | None, rules: TableRules
) -> list[Column]:
    """A 2-D ``X`` and its ``y`` as columns."""
    if features.ndim == 3:
        raise DatasetFormatError(
            "X is 3-D (sequences): a file of rows to predict needs a 2-D X; send sequences "
            'to a recurrent model with POST /v1/models/{id}/predict and "sequences"',
            column="X",
        )
    features, target = _check_shapes(features, target)
    n_rows, width = features.shape
    names_list = feature_names(names, width)
    rules.check([*names_list, *([TARGET_NAME] if target is not None else [])], n_rows)
    by_column = np.array(features.T, dtype=np.float64, order="C")  # one copy, rows = columns
    columns = [numeric_column(name, by_column[j], FIRST_ROW) for j, name in enumerate(names_list)]
    if target is not None:
        columns.append(_target_column(target))
    return columns


def target_column(target: np.ndarray, n_rows: int) -> Column:
    """``y`` (one value per sequence) as a column, checked like a table's."""
    _, checked = _check_shapes(np.zeros((n_rows, 1)), target)
    assert checked is not None
    return _target_column(checked)


def _check_expanded_size(path: Path, limit: int | None) -> None:
    """Refuse an archive whose members decompress past `limit` bytes, or whose arrays claim
    more data than their members hold, before inflating or allocating any.

    zipfile never yields more than a member's declared size, so the declared sizes bound
    what loading can allocate: a small compressed upload cannot expand into gigabytes. The
    shape in an array's own header is checked against that size too, since NumPy allocates
    what the header claims (a terabyte, say) before reading a byte of data.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            for member in members:
                if member.filename.endswith(".npy"):
                    _check_claimed_size(archive, member)
    except DatasetFormatError:
        raise
    except (OSError, zipfile.BadZipFile, EOFError, ValueError):
        return  # not a readable zip: np.load reports it below
    expanded = sum(member.file_size for member in members)
    if limit is not None and expanded > limit:
        raise DatasetTooLarge(
            f"the .npz expands to {expanded:,} bytes when decompressed, over this server's "
            f"upload limit of {limit:,} bytes; save fewer rows, or save it uncompressed "
            "with np.savez and stay under the limit"
        )


def _check_claimed_size(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> None:
    """Refuse a member whose .npy header claims more bytes of data than the member holds."""
    with archive.open(member) as stream:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
    claimed = math.prod(shape) * dtype.itemsize
    if dtype.hasobject or claimed <= member.file_size:
        return  # object arrays are refused when loaded, with their own message
    key = member.filename.removesuffix(".npy")
    raise DatasetFormatError(
        f"the .npz array {key!r} claims shape {tuple(shape)} of {dtype} ({claimed:,} bytes) but "
        f"holds only {member.file_size:,} bytes; the file is truncated or its header is wrong. "
        f"{HOW[0].upper()}{HOW[1:]}",
        column=key,
    )


def _member(archive: np.lib.npyio.NpzFile, key: str) -> np.ndarray:
    try:
        return np.asarray(archive[key])
    except KeyError:
        found = ", ".join(repr(name) for name in archive.files[:10]) or "nothing"
        raise DatasetFormatError(
            f"the .npz has no {key!r} array (it holds {found}); {HOW}", column=key
        ) from None
    except ValueError as error:
        if key == "X" and ("pickle" in str(error) or "bject arrays" in str(error)):
            raise DatasetFormatError(
                "X holds object arrays (ragged sequences of different lengths, or mixed values),"
                " which are refused; pad every sequence at the end to the longest length T, save"
                " X as one (n, T, d) array of numbers and the real lengths as `lengths`",
                column=key,
            ) from None
        if "pickle" in str(error) or "bject arrays" in str(error):
            raise DatasetFormatError(
                "the .npz holds object arrays, which are refused; save plain numeric/string arrays",
                column=key,
            ) from None
        raise DatasetFormatError(f"the .npz array {key!r} is unreadable ({error}); {HOW}") from None
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        raise DatasetFormatError(f"the .npz array {key!r} is unreadable ({error}); {HOW}") from None


def _check_shapes(
    features: np.ndarray, target: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray | None]:
    if features.ndim != 2 or features.dtype.kind not in "biuf":
        raise DatasetFormatError(
            f"X must be a 2-D array of numbers (rows × features), got {features.ndim}-D "
            f"{features.dtype}; reshape or convert it before saving",
            column="X",
        )
    if target is None:
        return features, None
    if target.ndim == 2 and target.shape[1] == 1:
        target = target[:, 0]
    if target.ndim != 1 or target.dtype.kind not in "biufUS":
        raise DatasetFormatError(
            f"y must be a 1-D array of numbers or strings, got {target.ndim}-D {target.dtype}",
            column="y",
        )
    if target.shape[0] != features.shape[0]:
        raise DatasetFormatError(
            f"X has {features.shape[0]} rows but y has {target.shape[0]} values; "
            "give y one value per row of X",
            column="y",
        )
    return features, target


def feature_names(names: np.ndarray | None, width: int) -> list[str]:
    if names is None:
        return [f"x{j}" for j in range(width)]
    if names.dtype.kind == "S":
        names = _decoded(names, "feature_names")
    if names.ndim != 1 or names.dtype.kind != "U" or names.size != width:
        raise DatasetFormatError(
            f"feature_names must be a 1-D string array with one name per column of X "
            f"({width}), got shape {names.shape} {names.dtype}",
            column="feature_names",
        )
    return [str(name).strip() for name in names]


def _target_column(target: np.ndarray) -> Column:
    if target.dtype.kind == "S":
        target = _decoded(target, TARGET_NAME)
    if target.dtype.kind == "U":
        uniques, codes = np.unique(target, return_inverse=True)
        return text_column(TARGET_NAME, codes, uniques, FIRST_ROW)
    return numeric_column(TARGET_NAME, target.astype(np.float64), FIRST_ROW)


def _decoded(values: np.ndarray, key: str) -> np.ndarray:
    try:
        return np.char.decode(values, "utf-8")
    except UnicodeDecodeError:
        raise DatasetFormatError(
            f"{key} holds bytes that are not UTF-8; save it as a unicode string array",
            column=key,
        ) from None
