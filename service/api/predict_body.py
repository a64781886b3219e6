"""The predict request body, read without pydantic on the hot path.

A well-formed body (`{"inputs": [[...], ...]}` or `{"records": [{...}, ...]}`) is parsed with
orjson and handed on as plain lists, which costs a fraction of validating every cell through
a pydantic model. Anything else (NaN literals, numbers beyond 64-bit integers, wrong types,
unknown keys, bytes that are not UTF-8 JSON) goes through exactly what FastAPI would have done
with `PredictRequest`, so callers get the same 400s and 422s, word for word.
"""

from __future__ import annotations

import email.message
import json
from collections.abc import Mapping
from typing import Any

import orjson
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from service.errors import BadRequest, InvalidInput, field_error
from service.schemas import PredictRequest

Rows = list[list[Any]] | None
Records = list[dict[str, Any]] | None
Sequences = list[list[list[Any]]] | None
Body = tuple[Rows, Records, Sequences]

PREDICT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": PredictRequest.model_json_schema()}},
    }
}
KEYS = frozenset(("inputs", "records"))  # the fast path's; "sequences" take the route


def parse_predict_body(body: bytes, headers: Mapping[str, str]) -> Body:
    """Return (inputs, records, sequences) from a predict body; raise FastAPI's errors for a
    bad one."""
    if _is_json(headers.get("content-type")):
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            data = None  # let the standard parser say what is wrong, or accept NaN for later
        if type(data) is dict and data and data.keys() <= KEYS:
            inputs, records = data.get("inputs"), data.get("records")
            if _list_of(inputs, list) and _list_of(records, dict):
                return inputs, records, None
    return _validated(body, headers)


def _list_of(value: Any, kind: type) -> bool:
    return value is None or (type(value) is list and all(type(item) is kind for item in value))


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    if message.get_content_maintype() != "application":
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


def _validated(body: bytes, headers: Mapping[str, str]) -> Body:
    """FastAPI's own reading of a JSON body declared as `PredictRequest`."""
    if not body:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
        )
    data: Any = body
    if _is_json(headers.get("content-type")):
        try:
            data = json.loads(body)
        except json.JSONDecodeError as exc:
            raise RequestValidationError(
                [
                    {
                        "type": "json_invalid",
                        "loc": ("body", exc.pos),
                        "msg": "JSON decode error",
                        "input": {},
                        "ctx": {"error": exc.msg},
                    }
                ],
                body=exc.doc,
            ) from exc
        except UnicodeDecodeError as exc:
            raise BadRequest(
                f"The body is not UTF-8 text (byte {exc.start}); send JSON encoded as UTF-8."
            ) from exc
        except ValueError as exc:  # an integer past Python's digit limit, say
            raise InvalidInput(
                "The body holds a number too long to read (an integer of more than 4,300 "
                "digits); send each value as an ordinary number, at most about 1.8e308.",
                errors=[field_error("body", "a number too long to read")],
            ) from exc
    try:
        parsed = PredictRequest.model_validate(data)
    except ValidationError as exc:
        errors = [
            {**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)
        ]
        raise RequestValidationError(errors, body=data) from None
    return parsed.inputs, parsed.records, parsed.sequences
