"""The code location's Dagster objects, one module per kind (Dagster's ``defs`` folder,
loaded by ``load_from_defs_folder``): partitions, resources, assets, checks, the
catalog, jobs, schedules, sensors and the alert sensors. The work they run lives in
:mod:`aerofs_pipelines.batch`, :mod:`aerofs_pipelines.landing` and
:mod:`aerofs_pipelines.alerts`; these modules add what Dagster needs and shows
(partitions, metadata, checks, run requests)."""
