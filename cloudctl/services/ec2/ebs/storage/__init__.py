"""Block storage glue of the cloud controller: properties, backends per zone, the
reconcile loop that converges EBS rows to the block backends.

Owns nothing the user sees directly: the EBS providers (``ec2/ebs/volumes.py``,
``ec2/ebs/snapshots.py``) record intent; this package performs it through
``storagectl.blocks``. Must not: answer API calls or build API shapes.
"""
