"""AeroFS Pipelines: file-batch processing on Dagster with Rust kernels.

Importing this package is cheap: Dagster is only imported by the modules that need it
(``aerofs_pipelines.definitions`` and friends), never by ``aerofs_pipelines.kernels``.
"""

__version__ = "0.1.0"
