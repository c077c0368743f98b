"""What every EC2 resource family uses: the resource-type registry (``resources``: id
prefixes, ARNs, tag kinds), IAM's view of EC2 resources (``arns``), tags
(``tags``), Describe* filters (``filters``) and the regions and zones EC2 reports
(``geography``). Imports no family package at module level.
"""
