"""The HTTP edge: an OpenAI-compatible server built by ``create_app(settings)``."""
