"""The WSGI entry point gunicorn loads (``faq_engine.wsgi:app``); settings come from the env."""

from .web import create_app

app = create_app()
