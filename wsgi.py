"""WSGI entry point: `gunicorn wsgi:app`."""

from fms import create_app

app = create_app()
