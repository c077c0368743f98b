"""sts service providers."""
