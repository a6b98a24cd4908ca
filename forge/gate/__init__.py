"""The quality gate: a repository's labels (`labels`), votes on a change (`votes`), how they
are read and weighed (`tally`), and when they make it submittable (`quality_gate`); who reviews
what next (`review_queue`), merging a change (`merging`) and the merge queue that lands approved
changes one tested step at a time (`merge_queue`, `auto_submit`, `speculative_merges`,
`merge_queue_advance`)."""
