"""Dataset ingest: uploaded CSV, JSON or .npz files in, validated columns and bytes out.

The HTTP layer streams an upload to a temporary file and calls ``parse_dataset``; the
result's summaries describe the dataset to the caller and ``encode_dataset`` turns it into
the bytes stored in the database, which a worker later turns back into columns with
``decode_dataset``. Every problem with an upload is a ``DatasetFormatError`` naming the row
and column where it can.
"""

from service.ingest.codec import decode_dataset, encode_dataset
from service.ingest.dataset import ParsedDataset
from service.ingest.errors import DatasetFormatError, DatasetTooLarge
from service.ingest.formats import detect_format, parse_dataset

__all__ = [
    "DatasetFormatError",
    "DatasetTooLarge",
    "ParsedDataset",
    "decode_dataset",
    "detect_format",
    "encode_dataset",
    "parse_dataset",
]
