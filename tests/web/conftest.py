"""The browser fixtures of test_web.py (the app served by uvicorn, Chromium through Playwright),
offered to the other browser test modules here. Module-scoped: each module gets its own server."""

from tests.web.test_web import context, page, pw, server  # noqa: F401 - fixtures
