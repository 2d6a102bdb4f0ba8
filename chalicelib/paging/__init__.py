"""Paged jobs: work over many contacts split into pages that each fit in one invocation.

A job is an item in the `jobs` table: its kind, parameters, the business time it computes for
(`as_of`), a plan (the partitions each pass reads), a cursor (pass, partition, DynamoDB's
LastEvaluatedKey), counts and state (committed with the cursor after every page), progress,
and a lease. Each invocation claims the lease, handles pages while its time budget lasts,
checkpoints after every page, and then releases the job (work left) or finishes it. Whatever
starts the next invocation only needs the job id: on AWS a one-minute `job_runner` tick, locally
the `make run` loop; a killed invocation's lease runs out and the next tick resumes from the
last checkpoint. See docs/jobs.md for how to write a kind.

    kinds.py    Source, Pass, Work, JobKind: what a kind is made of
    sources.py  IndexQuery: pages of a (sharded) GSI Query
    budget.py   Budget: how long one invocation may keep starting work
    runner.py   Runner: one invocation's loop
    store.py    JobStore: the conditional writes on the job item
    service.py  PagedJobs: start (one open job per kind), periodic starts, the tick, reads
    view.py     describe(): the job as the API shows it
"""
