"""cloudctl/services package."""
