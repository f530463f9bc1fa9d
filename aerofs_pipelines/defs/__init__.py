"""The code location's Dagster objects, one module per kind (Dagster's ``defs`` folder,
loaded by ``load_from_defs_folder``): partitions, resources, assets, checks, the
catalog, jobs, schedules and sensors. The work they run lives in
:mod:`aerofs_pipelines.batch` and :mod:`aerofs_pipelines.landing`; these modules add what
Dagster needs and shows (partitions, metadata, checks, run requests)."""
