"""The quality gate: votes on a change's labels and when they make it submittable (`votes`),
who reviews what next (`review_queue`), merging a change (`merging`) and the merge queue that
lands approved changes one tested step at a time (`merge_queue`)."""
