"""GitHub REST v3 JSON shapes built from forge's models, for the API's answers and for webhook
payloads: one module a resource (users, repos, collaborators, pulls, notifications, hooks,
events, gate, review_queue, reputation, merge_queue, actions, meta), all linking through
`links`. Callers import the module of the resource they answer with."""
