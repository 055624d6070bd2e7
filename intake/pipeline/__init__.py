"""The page-reading pipeline: pure stages, (image, context) -> result. No database, no Celery."""
