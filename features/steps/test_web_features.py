"""Binds the chat page features, in a module of their own.

Playwright's sync API keeps an event loop running on the main thread while a browser is
open, so the browser lives for this module only and other tests may use asyncio freely.
"""

from pytest_bdd import scenarios

scenarios("web")
