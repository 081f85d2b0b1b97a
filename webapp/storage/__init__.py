"""The storage layer the features call: bulk writes on both databases, uploads waiting for
their commit, lineage and providers. Only this package (and `webapp.db_types`, and the
triggers of `webapp.reward_sums`) knows which database it talks to or touches the driver's
connection."""

from webapp.storage.bulk import (
    BulkWriter,
    RowIds,
    analyze_temporary,
    bulk_insert,
    bulk_writer,
    is_postgresql,
    lock_keys,
    refresh_statistics,
    temporary_table,
    violates,
)
from webapp.storage.lineage import describe_payload, earlier_payload, new_payload, payload_names
from webapp.storage.providers import find_provider, provider_named
from webapp.storage.reads import in_batches, stream_on_own_connection, stream_rows
from webapp.storage.uploads import Upload, UploadMissing, UploadNotYours, UploadStore

__all__ = [
    "BulkWriter",
    "RowIds",
    "analyze_temporary",
    "Upload",
    "UploadMissing",
    "UploadNotYours",
    "UploadStore",
    "bulk_insert",
    "bulk_writer",
    "describe_payload",
    "earlier_payload",
    "find_provider",
    "in_batches",
    "is_postgresql",
    "lock_keys",
    "new_payload",
    "payload_names",
    "provider_named",
    "refresh_statistics",
    "stream_on_own_connection",
    "stream_rows",
    "temporary_table",
    "violates",
]
