"""nodectl package."""
