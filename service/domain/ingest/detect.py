"""What kind of file an upload is: by its name, its content type, then its first bytes."""

from __future__ import annotations

from pathlib import PurePosixPath

from service.domain.ingest.errors import DatasetFormatError

EXTENSIONS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".npz": "npz"}
CONTENT_TYPES = {
    "text/csv": "csv",
    "application/csv": "csv",
    "text/tab-separated-values": "csv",
    "application/json": "json",
    "text/json": "json",
}
BINARY_TYPES = ("application/octet-stream", "application/zip", "application/x-npz")
SPREADSHEETS = (".xlsx", ".xls", ".xlsm", ".ods", ".numbers")
ZIP_MAGIC = b"PK\x03\x04"
SUPPORTED = "upload a .csv with a header row, a .json array of records, or an .npz with X and y"
HEAD_BYTES = 4096
HEADER_LINE_BYTES = 1 << 20
# Compressed files are refused rather than inflated, so no upload expands past the size limit.
COMPRESSED = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)


def detect_format(filename: str | None, content_type: str | None, head: bytes) -> str:
    """Return "csv", "json" or "npz": by extension, then content type, then the first bytes."""
    suffix = PurePosixPath(filename or "").suffix.lower()
    if suffix in EXTENSIONS:
        return EXTENSIONS[suffix]
    if suffix in SPREADSHEETS:
        raise DatasetFormatError(
            f"spreadsheets ({suffix}) are not accepted; export the sheet "
            "as CSV (UTF-8) and upload that"
        )
    media = (content_type or "").split(";")[0].strip().lower()
    if media in CONTENT_TYPES:
        return CONTENT_TYPES[media]
    if media in BINARY_TYPES and head.startswith(ZIP_MAGIC):
        return "npz"
    return _sniff(head)


def refuse_compressed(head: bytes) -> None:
    for magic, name in COMPRESSED:
        if head.startswith(magic) and (name != "bzip2" or head[4:10] == b"1AY&SY"):
            raise DatasetFormatError(
                f"the file is {name}-compressed, and compressed uploads are not accepted; "
                f"decompress it and {SUPPORTED}"
            )


def _sniff(head: bytes) -> str:
    if head.startswith(ZIP_MAGIC):
        return "npz"
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if text[:1] in (b"[", b"{"):
        return "json"
    if not text or b"\0" in head or not _is_text(head):
        raise DatasetFormatError(f"the file's format is not recognised; {SUPPORTED}")
    return "csv"


def _is_text(head: bytes) -> bool:
    """Return whether ``head`` is UTF-8, allowing a character cut off at the end."""
    for cut in range(4):
        try:
            head[: len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        return True
    return False
