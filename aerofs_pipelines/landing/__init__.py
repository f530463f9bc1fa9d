"""The landing zone: batch ids and the ``_SUCCESS`` marker, ``aerofs ingest``, and finding
new complete batches (the event journal or SQS, and the reconciliation sweep)."""
