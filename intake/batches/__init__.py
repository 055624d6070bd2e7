"""Batches of uploaded scans: upload, per-page processing, assembly into records, progress.

`service` is the entry point for the API, the CLI and the workers; `jobs` is what the work queue
runs (the same code in a Celery worker and in-process).
"""
