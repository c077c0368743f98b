"""EBS: volumes, snapshots, attachments and their tags (the API surfaces), with the
block storage glue that carries them out (``storage``: backends, the reconciler).
"""
