"""empyrean service providers."""
