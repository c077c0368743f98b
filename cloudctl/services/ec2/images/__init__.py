"""EC2 images: registration and description (``images``), S3 bundles (``bundles``),
CopyImage (``copy``) and the demo image a fresh cloud offers (``demo``).
"""
