"""cloudctl/properties package."""
