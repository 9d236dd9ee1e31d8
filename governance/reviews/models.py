"""Review models arrive with issue 8 (workflows, stages, tasks, decisions)."""
