"""form-intake: scanned paper notification forms into validated digital records.

The package is importable without Celery, a database server or a web server: the page-reading
pipeline (`intake.pipeline`) and the form templates (`intake.forms`) are pure Python.
"""

__version__ = "0.1.0"
