"""Approval workflows over any reviewable object: stages, tasks, decisions (issue 8)."""
