"""The workflow engine (tier 3), read top-down: the stage contract (``stage``) -> the registry
-> the workflow file (``workflow``, ``workflow_paths``) -> the plan (``plan``, ``hashing``) ->
execution of a chain (``execution``, ``stage_task``) -> run directories (``rundir``) -> the
runners (``runners/``: local and Ray) -> a run from start to end (``run``) and its progress."""
