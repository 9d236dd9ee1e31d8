"""Policy models arrive with issue 5 (versioned rule sets)."""
