"""Celery workers: the app (`workers.app.celery_app`), thin tasks (`workers.tasks`) and their
commands (`python -m workers worker|beat`, `workers.cli`); need ``INTAKE_BROKER_URL``.

`intake` never imports this package: it must stay importable without Celery.
"""
