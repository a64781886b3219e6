"""Dataset ingest: uploaded CSV, JSON or .npz files in, validated columns and bytes out.

The HTTP layer streams an upload to a temporary file (a ``CsvStream`` parsing a CSV's
pieces as they are written) and calls ``parse_dataset``; the
result's summaries describe the dataset to the caller and ``encode_dataset`` turns it into
the bytes stored in the database, which a worker later turns back into columns with
``decode_dataset``. Rows to predict (no target) go through ``parse_features``,
``encode_columns`` and ``decode_columns`` the same way. Every problem with an upload is a
``DatasetFormatError`` naming the row and column where it can.
"""

from service.domain.ingest.codec import (
    decode_categories,
    decode_columns,
    decode_dataset,
    encode_columns,
    encode_dataset,
)
from service.domain.ingest.csv_stream import CsvStream
from service.domain.ingest.dataset import ParsedDataset, ParsedFeatures
from service.domain.ingest.errors import DatasetFormatError, DatasetTooLarge
from service.domain.ingest.formats import detect_format, parse_dataset, parse_features
from service.domain.ingest.sequences import (
    ParsedSequences,
    decode_sequences,
    encode_sequences,
    is_sequence_blob,
)

__all__ = [
    "CsvStream",
    "DatasetFormatError",
    "DatasetTooLarge",
    "ParsedDataset",
    "ParsedFeatures",
    "ParsedSequences",
    "decode_columns",
    "decode_categories",
    "decode_dataset",
    "decode_sequences",
    "detect_format",
    "encode_columns",
    "encode_dataset",
    "encode_sequences",
    "is_sequence_blob",
    "parse_dataset",
    "parse_features",
]
