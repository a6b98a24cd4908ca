"""Continuous integration: a repository's `.forge/ci.yml` (`config`), runs and jobs for the
commits pushed (`runs`), putting jobs on the queue and finding lost ones (`dispatch`), running
a job on a worker (`execution`) in the sandbox (`sandbox`), and the statuses and logs jobs
leave (`results`)."""
