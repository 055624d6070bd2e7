"""Celery workers: the app (`workers.app.celery_app`) and thin tasks (`workers.tasks`).

Run with ``intake worker`` (or ``celery -A workers.app worker``); needs ``INTAKE_BROKER_URL``.
"""
