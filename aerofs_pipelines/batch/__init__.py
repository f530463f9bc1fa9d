"""What happens to one batch, as plain functions (no Dagster): the manifest of its files,
tables converted by the Rust kernel, text statistics, the summary, validation of its
outputs, the catalog across batches, and the verdict on a batch that landed again."""
