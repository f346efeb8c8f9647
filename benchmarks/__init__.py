"""Performance benchmarks for trello-sync (issue 6): `python -m benchmarks.run`."""
