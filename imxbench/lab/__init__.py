"""Boards from labgrid places: selection by tag, shards, reserving and releasing places."""
