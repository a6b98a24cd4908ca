"""Entry point for WSGI servers: `gunicorn wsgi:app`. Settings come from the environment."""

from forge.app import create_app

app = create_app()
