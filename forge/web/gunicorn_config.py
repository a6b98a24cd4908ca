"""gunicorn's settings for forge, given as `--config python:forge.web.gunicorn_config`
(`forge serve` and docs/deploy.md do): a worker that has loaded the app sets up the database
models, compiles the templates and loads the highlighter and Markdown before it takes its
first request.

Without this the first page each worker served after a start or restart paid about a second
for them on top of its own work (bench/real_repos.py's restart column).
"""

from __future__ import annotations


def post_worker_init(worker) -> None:
    warm_up(worker.wsgi)


def warm_up(app) -> None:
    from sqlalchemy.orm import configure_mappers

    from forge.repos.highlight import highlight_lines
    from forge.repos.markup import render_markdown
    from forge.web.browse import templates_version

    configure_mappers()  # SQLAlchemy does it on the first query: 0.3 s for forge's 57 models
    for name in app.jinja_env.list_templates(filter_func=lambda name: name.endswith(".html")):
        app.jinja_env.get_template(name)
    # Pygments finds a lexer by file name through its whole table, then imports the lexer's
    # module; these are the languages most pages show.
    for name in ("a.py", "a.c", "a.h", "a.js", "a.ts", "a.go", "a.rs", "a.sh", "a.md", "a.txt"):
        highlight_lines("x\n", name)
    render_markdown("# forge\n\n`x`", "/", "/", "")
    with app.app_context():
        templates_version()  # part of the key of code and diffs kept on disk
