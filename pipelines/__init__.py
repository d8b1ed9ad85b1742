"""Pipelines: jobs, the stage and push pipelines, reports and the `engagement-sync` CLI."""
