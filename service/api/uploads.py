"""Multipart file uploads, shared by the dataset and batch-prediction routes.

The body is parsed as it arrives: the file part goes straight to a file on disk (hashed on
the way), the few text fields stay in memory. Starlette's own form parser spools the file
into a temporary file through a thread hop per network chunk, which cost three times the
time of receiving the bytes; a file written here is also the one the parsers read, with no
second copy.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from fastapi import Request
from python_multipart.multipart import parse_options_header

from service.api.middleware import BodyTooLarge
from service.core.errors import BadRequest, InvalidInput, PayloadTooLarge, field_error

MAX_FIELDS = 20
MAX_FIELD_BYTES = 64 * 1024
MAX_HEADER_BYTES = 16 * 1024


def multipart_body(*text_fields: str) -> dict[str, Any]:
    """OpenAPI for a multipart body with a required `file` and optional text fields."""
    properties: dict[str, Any] = {"file": {"type": "string", "format": "binary"}}
    properties.update({name: {"type": "string"} for name in text_fields})
    schema = {"type": "object", "required": ["file"], "properties": properties}
    return {
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}
    }


class FileSink(Protocol):
    """Told about the file part as it is written (a parser that works as the bytes arrive)."""

    def start(self, filename: str | None, content_type: str | None) -> None: ...

    def feed(self, data: memoryview) -> None: ...


@dataclass
class ReceivedUpload:
    """The uploaded file, saved at `path`, and the form's text fields."""

    path: Path
    filename: str | None = None
    content_type: str | None = None
    size: int = 0
    sha256: str = ""
    fields: dict[str, str] = field(default_factory=dict)

    def text(self, name: str) -> str | None:
        """A text field's value, or None when it is absent or empty."""
        return self.fields.get(name) or None


async def receive_upload(
    request: Request, path: Path, limit: int, what: str, sink: FileSink | None = None
) -> ReceivedUpload:
    """Save the form's `file` field at `path` and return it with the text fields.

    413 past `limit` bytes, 400 for a body that is not well-formed multipart, and 422 saying
    how to send `what` when there is no file field.
    """
    boundary = _boundary(request.headers.get("content-type", ""), what)
    upload = ReceivedUpload(path)
    with path.open("wb", buffering=0) as out:  # each block on disk when `sink` hears of it
        parser = _MultipartParser(boundary, upload, out, sink)
        try:
            async for chunk in request.stream():
                parser.feed(chunk)
        except BodyTooLarge as exc:
            raise PayloadTooLarge(
                f"The upload is over this server's limit of {limit:,} bytes; send a smaller file."
            ) from exc
        except _Malformed as exc:
            raise BadRequest(f"The multipart body could not be read: {exc}") from exc
        if not parser.finished:
            raise BadRequest(
                "The multipart body could not be read: it ends before its closing boundary."
            )
    if not parser.has_file:
        raise InvalidInput(
            f"Send {what} as a multipart form field named 'file'.",
            errors=[field_error(["body", "file"], "required")],
        )
    return upload


def _boundary(content_type: str, what: str) -> bytes:
    kind, options = parse_options_header(content_type)
    if kind != b"multipart/form-data":
        raise InvalidInput(
            f"Upload {what} as multipart/form-data with a 'file' field (curl -F file=@data.csv).",
            errors=[field_error(["header", "content-type"], "must be multipart/form-data")],
        )
    boundary = options.get(b"boundary", b"")
    if not boundary or len(boundary) > 200:
        raise BadRequest("The multipart body could not be read: its boundary is missing.")
    return boundary


class _Malformed(Exception):
    pass


class _MultipartParser:
    """An incremental RFC 7578 parser: one file part to `out`, text parts to `upload.fields`.

    The body is read as if it began with CRLF, so every boundary, the first included, is
    the delimiter CRLF "--" boundary; what precedes the first one is preamble.
    """

    def __init__(
        self, boundary: bytes, upload: ReceivedUpload, out: BinaryIO, sink: FileSink | None = None
    ):
        self.delimiter = b"\r\n--" + boundary
        self.upload = upload
        self.out = out
        self.sink = sink
        self.digest = hashlib.sha256()
        self.buffer = bytearray(b"\r\n")
        self.state = "preamble"
        self.part: str | None = None  # "file", or the text field's name
        self.value = bytearray()
        self.has_file = False
        self.finished = False

    def feed(self, chunk: bytes) -> None:
        if self.finished:
            return  # the epilogue is ignored
        self.buffer += chunk
        while self._step():
            pass

    def _step(self) -> bool:
        """Consume what the buffer allows in the current state; False when it needs more."""
        buffer = self.buffer
        if self.state in ("preamble", "data"):
            at = buffer.find(self.delimiter)
            keep = len(self.delimiter) - 1  # the start of a delimiter split across chunks
            if at < 0:
                if len(buffer) > keep:
                    self._emit_prefix(len(buffer) - keep)
                    del buffer[: len(buffer) - keep]
                return False
            self._emit_prefix(at)
            del buffer[: at + len(self.delimiter)]
            self._end_part()
            self.state = "after_delimiter"
            return True
        if self.state == "after_delimiter":
            if len(buffer) < 2:
                return False
            if buffer[:2] == b"--":
                self.finished = True
                buffer.clear()
                return False
            end = buffer.find(b"\r\n")
            if end < 0:
                if len(buffer) > 256:
                    raise _Malformed("a boundary line is followed by garbage")
                return False
            if buffer[:end].strip(b" \t"):
                raise _Malformed("a boundary line is followed by garbage")
            del buffer[: end + 2]
            self.state = "headers"
            return True
        # headers: up to the empty line
        if buffer.startswith(b"\r\n"):
            head, rest = b"", 2
        else:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEADER_BYTES:
                    raise _Malformed("a part's headers are too long")
                return False
            head, rest = bytes(buffer[:end]), end + 4
        del buffer[:rest]
        self._start_part(head)
        self.state = "data"
        return True

    def _start_part(self, head: bytes) -> None:
        headers = {}
        for line in head.split(b"\r\n"):
            header, colon, value = line.partition(b":")
            if not colon:
                raise _Malformed(f"a part has a malformed header line {line[:80]!r}")
            headers[header.strip().lower()] = value.strip()
        disposition, options = parse_options_header(headers.get(b"content-disposition", b""))
        if disposition != b"form-data" or b"name" not in options:
            raise _Malformed("a part has no Content-Disposition: form-data; name=...")
        name = options[b"name"].decode("utf-8", "replace")
        if b"filename" in options:
            if self.has_file:
                raise _Malformed("too many files; send one file, in the field 'file'")
            if name != "file":
                self.part = None  # a file under another name is read and ignored
                return
            self.has_file = True
            self.part = "file"
            self.upload.filename = options[b"filename"].decode("utf-8", "replace") or None
            kind = headers.get(b"content-type")
            self.upload.content_type = kind.decode("latin-1") if kind else None
            if self.sink is not None:
                self.sink.start(self.upload.filename, self.upload.content_type)
            return
        if len(self.upload.fields) >= MAX_FIELDS:
            raise _Malformed(f"too many fields; send at most {MAX_FIELDS}")
        self.part = name
        self.value = bytearray()

    def _emit_prefix(self, size: int) -> None:
        """Hand the buffer's first `size` bytes to the current part (views released
        before the buffer is resized)."""
        if self.state != "data" or size == 0 or self.part is None:
            return
        with memoryview(self.buffer) as view, view[:size] as data:
            self._emit(data)

    def _emit(self, data: memoryview) -> None:
        if self.part == "file":
            self.out.write(data)
            self.digest.update(data)
            self.upload.size += len(data)
            if self.sink is not None:
                self.sink.feed(data)
            return
        if len(self.value) + len(data) > MAX_FIELD_BYTES:
            raise _Malformed(f"the field {self.part!r} is over {MAX_FIELD_BYTES:,} bytes")
        self.value += data

    def _end_part(self) -> None:
        if self.state != "data" or self.part is None:
            return
        if self.part == "file":
            self.upload.sha256 = self.digest.hexdigest()
        else:
            try:
                self.upload.fields[self.part] = self.value.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _Malformed(f"the field {self.part!r} is not UTF-8 text") from exc
        self.part = None
