"""A small, fast code location for the live-server tests (browser, API docs).

It mirrors the names of the real pipeline that clients see (job ``process_batch`` over
the dynamic partitions ``batches``) with an asset that succeeds in well under a second,
so a launched run ends quickly and the tests do not depend on the landing zone or lake.
"""

import dagster as dg

batches = dg.DynamicPartitionsDefinition(name="batches")


@dg.asset(partitions_def=batches, group_name="batch")
def batch_report(context: dg.AssetExecutionContext) -> dg.MaterializeResult[None]:
    """One row of metadata per batch: enough to show up in the UI."""
    context.log.info(f"processing batch {context.partition_key}")
    return dg.MaterializeResult(metadata={"batch_id": context.partition_key})


process_batch = dg.define_asset_job(
    "process_batch", selection=[batch_report], partitions_def=batches
)

# In-process executor: a run is one process, done in a couple of seconds.
defs = dg.Definitions(assets=[batch_report], jobs=[process_batch], executor=dg.in_process_executor)
