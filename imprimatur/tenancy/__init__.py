"""Organisations, members and roles, brand projects and their brand kits."""
