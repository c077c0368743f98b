"""EDGE networking in the cloud controller: configuration, NICs, the view, netd wiring.

Security groups and addresses are EC2 API surfaces (`cloudctl.services.ec2.
security_groups`, `cloudctl.services.ec2.network.addresses`); their tables, the
instance NICs and the network view's version live here (`models`). The
controller (`controller`) renders the view and drives every host's netd
through `netd.client` only.
"""
