"""Serving Layer: a serverless API over a logistics Iceberg lake.

The package is what the cloud Lambdas carry. Modules that need DuckDB, pyarrow or pyiceberg are
only imported lazily, by the local runtime, so a Lambda cold start never loads them.
"""

__version__ = "0.1.0"
