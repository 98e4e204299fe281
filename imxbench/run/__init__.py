"""Running work on boards: one board's pipeline, the whole job, the nightly, recording."""
