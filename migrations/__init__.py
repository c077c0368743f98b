"""Alembic migrations of the cloud's schema (upgrade and downgrade, reviewed by hand)."""
