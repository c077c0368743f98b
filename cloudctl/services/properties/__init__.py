"""properties service providers."""
