"""ec2 service providers."""
