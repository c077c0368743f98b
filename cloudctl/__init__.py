"""cloudctl package."""
