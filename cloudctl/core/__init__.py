"""Machinery every service shares and no service owns (the reconcile base)."""
