"""Multipart file uploads, shared by the dataset and batch-prediction routes."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from fastapi import Request
from starlette.datastructures import FormData, UploadFile

from service.api.middleware import BodyTooLarge
from service.errors import BadRequest, InvalidInput, PayloadTooLarge, field_error


def multipart_body(*text_fields: str) -> dict[str, Any]:
    """OpenAPI for a multipart body with a required `file` and optional text fields."""
    properties: dict[str, Any] = {"file": {"type": "string", "format": "binary"}}
    properties.update({name: {"type": "string"} for name in text_fields})
    schema = {"type": "object", "required": ["file"], "properties": properties}
    return {
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}
    }


async def read_upload_form(request: Request, limit: int) -> FormData:
    """The multipart form, with 413 past `limit` bytes and 4xx for anything unreadable."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise InvalidInput(
            "Upload the data set as multipart/form-data with a 'file' field "
            "(curl -F file=@data.csv).",
            errors=[field_error(["header", "content-type"], "must be multipart/form-data")],
        )
    try:
        return await request.form(max_files=1, max_fields=20)
    except BodyTooLarge as exc:
        raise PayloadTooLarge(
            f"The upload is over this server's limit of {limit:,} bytes; send a smaller file."
        ) from exc
    except Exception as exc:
        raise BadRequest(f"The multipart body could not be read: {exc}") from exc


def uploaded_file(form: FormData, what: str) -> UploadFile:
    """The form's `file` field, or 422 saying how to send `what`."""
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise InvalidInput(
            f"Send {what} as a multipart form field named 'file'.",
            errors=[field_error(["body", "file"], "required")],
        )
    return upload


def save_upload(upload: UploadFile, path: Path) -> int:
    """Copy the spooled upload to `path`; returns its size in bytes."""
    upload.file.seek(0)
    with path.open("wb") as out:
        shutil.copyfileobj(upload.file, out, 1 << 20)
        return out.tell()
