"""cloudctl/server package."""
