"""EC2's EDGE network surfaces: security groups, addresses (elastic and auto-assigned)
and an instance's network at launch and termination (``instance_network``). Their
tables, the NICs and the view netd applies live in ``cloudctl.services.network``.
"""
