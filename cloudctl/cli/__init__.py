"""cloudctl/cli package."""
