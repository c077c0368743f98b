"""Block storage glue of the cloud controller: properties, backends per zone, the
reconcile loop that converges EBS rows to the block backends.

Owns nothing the user sees directly: the EC2 providers (``ec2/volumes.py``,
``ec2/snapshots.py``) record intent; this package performs it through
``storagectl.blocks``. Must not: answer API calls or build API shapes.
"""
