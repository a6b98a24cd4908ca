"""forge's gunicorn settings (`forge.web.gunicorn_config`): each worker compiles every template
before its first request, which also finds a template that does not compile even if no test
renders it."""

from __future__ import annotations

from forge.web.gunicorn_config import post_worker_init


class Worker:
    """What gunicorn hands the hook: the worker, holding the loaded app as `wsgi`."""

    def __init__(self, app):
        self.wsgi = app


def test_a_worker_compiles_every_template_before_its_first_request(app):
    templates = app.jinja_env.list_templates(filter_func=lambda name: name.endswith(".html"))
    assert len(templates) > 50
    post_worker_init(Worker(app))
    compiled = {name for (_loader, name) in app.jinja_env.cache}
    assert set(templates) <= compiled
