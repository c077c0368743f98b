"""storagectl package."""
