"""The audit log: every state change records one event here (hash chain: issue 9)."""
