"""The predict request body, read without pydantic on the hot path.

A well-formed body (`{"inputs": [[...], ...]}` or `{"records": [{...}, ...]}`) is parsed with
orjson and handed on as plain lists, which costs a fraction of validating every cell through
a pydantic model; `inputs` holding only numbers in equal-width rows becomes a float matrix
straight away. `text/csv` and `application/x-npy` bodies are read by `service.domain.bulk_bodies`.
Anything else (NaN literals, numbers beyond 64-bit integers, wrong types, unknown keys, bytes
that are not UTF-8 JSON) goes through exactly what FastAPI would have done with
`PredictRequest`, so callers get the same 400s and 422s, word for word.
"""

from __future__ import annotations

import email.message
import itertools
import json
from typing import Any, NamedTuple

import numpy as np
import orjson
from pydantic import ValidationError

from service.api.problems import invalid_request
from service.api.schemas import PredictRequest
from service.core.errors import BadRequest, InvalidInput, field_error
from service.domain.bulk_bodies import BULK_TYPES, CSV_TYPE, NPY_TYPE, BulkBody, read_bulk_body

Rows = list[list[Any]] | np.ndarray | BulkBody | None
Records = list[dict[str, Any]] | None
Sequences = list[list[list[Any]]] | None


class PredictBody(NamedTuple):
    """What a predict body asks for: rows, records or sequences (one of them, if well-formed)."""

    inputs: Rows
    records: Records
    sequences: Sequences

    @property
    def n_rows(self) -> int:
        """How many predictions it asks for."""
        for rows in self:
            if rows is not None:
                return len(rows)
        return 0


PREDICT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": PredictRequest.model_json_schema()},
            CSV_TYPE: {"schema": {"type": "string", "description": "a header row, then rows"}},
            NPY_TYPE: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}
JSON_TYPE = "application/json"
KEYS = frozenset(("inputs", "records"))  # read with orjson; "sequences" go through pydantic
NUMBER_BYTES = b"0123456789.eE+-,[] \t\r\n"
INPUTS_KEY = b'{"inputs":}'


def parse_predict_body(
    body: bytes, content_type: str | None, leftovers: list[Any] | None = None
) -> PredictBody:
    """The rows, records or sequences of a predict body; FastAPI's errors for a bad one.

    Rows of numbers become a float matrix, and the Python lists they were parsed into are
    garbage. Freeing 1000 rows of them takes about as long as predicting them, so a caller
    that passes `leftovers` gets them put there, to drop once the answer has gone out."""
    plain_json = content_type == JSON_TYPE  # the usual case, without parsing the header
    bulk = None if plain_json else _bulk_type(content_type)
    if bulk is not None:
        return PredictBody(read_bulk_body(body, bulk), None, None)
    if plain_json or _is_json(content_type):
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            data = None  # let the standard parser say what is wrong, or accept NaN for later
        if type(data) is dict and data and data.keys() <= KEYS:
            inputs, records = data.get("inputs"), data.get("records")
            if _list_of(inputs, list) and _list_of(records, dict):
                rows = _numbers_only(body, inputs)
                if leftovers is not None and rows is not inputs:
                    leftovers.append(data)
                return PredictBody(rows, records, None)
    return _validated(body, content_type)


def _numbers_only(body: bytes, inputs: list[list[Any]] | None) -> Rows:
    """`inputs` as a float matrix when the body holds nothing but numbers in equal-width
    rows; otherwise the lists, for the cell-by-cell checks. Only the key itself may be a
    string, and no `true`, `false` or `null` may appear, so every cell is an int or a float
    (orjson refuses NaN and integers beyond 64 bits) and none is a bool: with the bytes of
    numbers, brackets, commas and whitespace taken out, only `{"inputs":}` may be left."""
    if not inputs or body.translate(None, NUMBER_BYTES) != INPUTS_KEY:
        return inputs
    widths = set(map(len, inputs))
    if len(widths) != 1 or 0 in widths:
        return inputs
    width = widths.pop()
    try:  # a list nested deeper than rows of cells makes float() fail
        flat = np.fromiter(itertools.chain.from_iterable(inputs), np.float64, len(inputs) * width)
    except (TypeError, ValueError):
        return inputs
    return flat.reshape(len(inputs), width)


def _bulk_type(content_type: str | None) -> str | None:
    if not content_type:
        return None
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type if media_type in BULK_TYPES else None


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


def _validated(body: bytes, content_type: str | None) -> PredictBody:
    """FastAPI's own reading of a JSON body declared as `PredictRequest`."""
    if not body:
        missing = {"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}
        raise invalid_request([missing], content_type)
    data: Any = body
    if _is_json(content_type):
        try:
            data = json.loads(body)
        except json.JSONDecodeError as exc:
            not_json = {
                "type": "json_invalid",
                "loc": ("body", exc.pos),
                "msg": "JSON decode error",
                "input": {},
                "ctx": {"error": exc.msg},
            }
            raise invalid_request([not_json], content_type) from exc
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
        raise invalid_request(errors, content_type) from None
    return PredictBody(parsed.inputs, parsed.records, parsed.sequences)
