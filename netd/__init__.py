"""netd package."""
