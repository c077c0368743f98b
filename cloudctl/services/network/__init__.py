"""EDGE networking in the cloud controller, a data-plane component: configuration, NICs,
the view, netd wiring.

Security groups and addresses are EC2 API surfaces
(`cloudctl.services.ec2.network.security_groups`, `.addresses`); their tables, the
instance NICs and the network view's version live here (`models`). The renderer
(`render`) reads groups, memberships and public addresses only through the feeds the
services register (`feed`; EC2's is `cloudctl.services.ec2.network.view_feed`) and
imports no service. The controller (`controller`) renders the view and drives every
host's netd through `netd.client` only.
"""
