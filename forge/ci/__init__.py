"""Continuous integration: a repository's `.forge/ci.yml` (`config`), runs and jobs for the
commits pushed (`runs`), and the sandbox a job runs in (`sandbox`)."""
