"""The audit log: every state change records one event, hash-chained, append-only, with
signed checkpoints and verification (CHAIN.md)."""
