"""Governance: prompt policies, review workflows and the audit log. Imports no `generation`."""
