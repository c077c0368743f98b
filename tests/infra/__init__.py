"""tests/infra package."""
