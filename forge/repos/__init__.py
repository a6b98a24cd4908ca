"""Repositories and what is in them: creating, forking and finding them (`repositories`,
`forks`), their branches, protection and ref updates (`branches`, `refs`), commit statuses
(`statuses`), and reading their files, history and diffs for pages (`browse`, `contents`,
`diffs`, `highlight`, `markup`)."""
