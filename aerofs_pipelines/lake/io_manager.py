"""A Parquet IO manager on Dagster's ``UPathIOManager`` that handles partition ranges.

Values are ``pyarrow.Table`` (pandas DataFrames are converted), one Parquet file per
partition: ``<base>/<asset key path>/<partition>.parquet``. A partitioned asset hands
over and receives ``dict[partition_key, Table]`` whatever the number of partitions in the
run, so the same code serves one batch or a single-run backfill of many (Dagster's
``UPathIOManager`` refuses to store an output covering several partitions).

Writes are atomic and deterministic: the file is serialised in memory, then written as
temp file + ``os.replace`` locally, or one PUT (multipart when large) on S3.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

from aerofs_pipelines import config
from aerofs_pipelines._dagster_compat import escape_partition_path
from aerofs_pipelines.lake.layout import IO_PREFIX
from aerofs_pipelines.lake.storage import atomic_target

if TYPE_CHECKING:
    from upath import UPath

__all__ = ["LakeParquetIOManager", "PartitionedParquetIOManager", "lake_upath"]


def lake_upath(url: str, endpoint_url: str | None = None) -> UPath:
    """A UPath for a folder or ``s3://bucket/prefix`` (``AWS_ENDPOINT_URL`` honoured)."""
    from upath import UPath

    if url.startswith("s3://"):
        endpoint = endpoint_url or config.s3_endpoint_url()
        kwargs: dict[str, Any] = {"client_kwargs": {"endpoint_url": endpoint}} if endpoint else {}
        return cast("UPath", UPath(url, **kwargs))
    return UPath(os.path.abspath(os.path.expanduser(url)))


def _as_table(obj: Any) -> pa.Table:
    if isinstance(obj, pa.Table):
        return obj
    if isinstance(obj, pa.RecordBatch):
        return pa.Table.from_batches([obj])
    import pandas as pd

    if isinstance(obj, pd.DataFrame):
        return pa.Table.from_pandas(obj, preserve_index=False)
    raise TypeError(f"the Parquet IO manager stores Arrow tables or DataFrames, not {type(obj)}")


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd", write_statistics=True)
    data: bytes = sink.getvalue().to_pybytes()
    return data


class PartitionedParquetIOManager(dg.UPathIOManager):
    """Parquet files under a UPath; partition ranges in and out as dicts."""

    extension = ".parquet"

    def make_safe_partition_path(self, base_path: UPath, partition: str) -> UPath:
        return base_path / escape_partition_path(partition)

    def dump_to_path(self, context: dg.OutputContext, obj: Any, path: UPath) -> None:
        data = _parquet_bytes(_as_table(obj))
        if path.protocol in ("", "file", "local"):
            with atomic_target(Path(str(path))) as tmp:
                tmp.write_bytes(data)
        else:
            path.fs.pipe_file(path.path, data)  # one PUT (multipart when large)

    def load_from_path(self, context: dg.InputContext, path: UPath) -> pa.Table:
        if path.protocol in ("", "file", "local"):
            return pq.read_table(str(path))
        return pq.read_table(pa.BufferReader(path.read_bytes()))

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if not (context.has_asset_key and context.has_asset_partitions):
            super().handle_output(context, obj)
            return
        paths = self._get_paths_for_partitions(context)
        values = self._by_partition(obj, list(paths))
        folder = next(iter(paths.values())).parent
        self.make_directory(folder)
        # one log line, not one per partition: each is an event in the instance storage
        context.log.debug(f"Writing {len(paths)} partition(s) under {folder}")
        for key, path in paths.items():
            if path.parent != folder:
                self.make_directory(path.parent)
            self.dump_to_path(context=context, obj=values[key], path=path)
        context.add_output_metadata({"path": dg.MetadataValue.path(str(folder))})

    def load_partitions(self, context: dg.InputContext) -> dict[str, Any]:
        """Every partition of the input, as a dict (one log line for all of them)."""
        paths = self._get_paths_for_partitions(context)
        context.log.debug(f"Loading {len(paths)} partition(s) of {context.asset_key.path}")
        return {key: self.load_from_path(context, path) for key, path in paths.items()}

    @staticmethod
    def _by_partition(obj: Any, keys: list[str]) -> Mapping[str, Any]:
        if isinstance(obj, Mapping):
            missing = sorted(set(keys) - set(obj))
            if missing:
                raise KeyError(f"the asset returned no value for partitions {missing[:5]}")
            return obj
        if len(keys) == 1:
            return {keys[0]: obj}
        raise TypeError(
            f"an output covering {len(keys)} partitions must be a dict partition key → value"
        )

    def load_input(self, context: dg.InputContext) -> Any:
        if context.has_asset_key and context.has_asset_partitions:
            if not context.asset_partition_keys:
                return {}
            return self.load_partitions(context)
        return super().load_input(context)


class LakeParquetIOManager(dg.ConfigurableIOManagerFactory[PartitionedParquetIOManager]):
    """Asset values as Parquet in ``<lake>/_dagster/`` (a folder or ``s3://bucket/prefix``)."""

    lake_url: str
    endpoint_url: str | None = None

    def create_io_manager(self, context: dg.InitResourceContext) -> PartitionedParquetIOManager:
        base = lake_upath(self.lake_url, self.endpoint_url) / IO_PREFIX
        return PartitionedParquetIOManager(base_path=base)
