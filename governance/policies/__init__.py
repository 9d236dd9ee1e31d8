"""Prompt policies: versioned rule sets, text normalisation, evaluation (issue 5)."""
