"""Performance benchmarks for trello-sync: `python -m benchmarks.run`."""
