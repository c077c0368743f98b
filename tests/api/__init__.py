"""tests/api package."""
