"""cloudctl/db package."""
