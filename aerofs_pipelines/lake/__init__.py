"""The data lake: its layout (every key), storage (a local folder or S3, atomic writes)
and the Parquet IO manager that passes values between assets."""
