"""The streaming multipart parser: any chunking gives the same file, hash and fields."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from service.api.uploads import ReceivedUpload, _Malformed, _MultipartParser

BOUNDARY = b"----b0undary"
CSV = b"x,y\r\n1,a\r\n2,b\r\n" + b"--" + b"not-a-boundary\r\n" + bytes(range(256)) * 4


def body(*parts: bytes, preamble: bytes = b"", epilogue: bytes = b"") -> bytes:
    out = preamble
    for part in parts:
        out += b"--" + BOUNDARY + b"\r\n" + part + b"\r\n"
    return out + b"--" + BOUNDARY + b"--\r\n" + epilogue


def field(name: str, value: bytes) -> bytes:
    return f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value


def file_part(data: bytes, name: str = "file", filename: str = "data.csv") -> bytes:
    return (
        f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode() + data


def parse(raw: bytes, chunk: int) -> tuple[_MultipartParser, ReceivedUpload, bytes]:
    upload = ReceivedUpload(Path("unused"))
    out = io.BytesIO()
    parser = _MultipartParser(BOUNDARY, upload, out)
    for start in range(0, len(raw), chunk):
        parser.feed(raw[start : start + chunk])
    return parser, upload, out.getvalue()


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 13, 16, 17, 64, 1000, 1 << 20])
def test_any_chunking_gives_the_same_file_and_fields(chunk: int) -> None:
    raw = body(
        field("name", "säule".encode()),
        file_part(CSV),
        field("target", b"y"),
        preamble=b"ignored preamble\r\n",
        epilogue=b"ignored epilogue",
    )
    parser, upload, data = parse(raw, chunk)
    assert parser.finished and parser.has_file
    assert data == CSV
    assert upload.size == len(CSV)
    assert upload.sha256 == hashlib.sha256(CSV).hexdigest()
    assert upload.filename == "data.csv" and upload.content_type == "text/csv"
    assert upload.fields == {"name": "säule", "target": "y"}
    assert upload.text("name") == "säule" and upload.text("missing") is None


def test_empty_file_and_no_fields() -> None:
    parser, upload, data = parse(body(file_part(b"")), 5)
    assert parser.finished and parser.has_file and data == b"" and upload.size == 0


def test_file_under_another_name_is_ignored() -> None:
    parser, upload, data = parse(body(file_part(b"abc", name="other")), 4)
    assert parser.finished and not parser.has_file and data == b""


def test_body_without_closing_boundary_is_unfinished() -> None:
    raw = body(file_part(CSV))
    parser, _, _ = parse(raw[: raw.rindex(b"--" + BOUNDARY + b"--")], 9)
    assert not parser.finished


@pytest.mark.parametrize(
    "raw, message",
    [
        (body(file_part(b"a"), file_part(b"b")), "too many files"),
        (body(b"Content-Type: text/plain\r\n\r\nx"), "Content-Disposition"),
        (body(b"no colon here\r\n\r\nx"), "malformed header"),
        (body(*[field(f"f{i}", b"v") for i in range(21)]), "too many fields"),
        (body(field("name", b"v" * (65 * 1024))), "over 65,536 bytes"),
        (body(field("name", b"\xff\xfe")), "not UTF-8"),
        (b"--" + BOUNDARY + b"garbage\r\n", "garbage"),
        (b"--" + BOUNDARY + b"\r\n" + b"X-Long: " + b"h" * 20_000, "headers are too long"),
    ],
)
def test_malformed_bodies_are_refused(raw: bytes, message: str) -> None:
    with pytest.raises(_Malformed, match=message):
        parse(raw, 11)
