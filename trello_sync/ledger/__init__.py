"""The ledger: an append-only store of entries, stage moves, replies and checkpoints."""
