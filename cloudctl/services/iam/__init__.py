"""IAM (Euare): accounts, users, access keys and, as it grows, the rest of IAM."""
