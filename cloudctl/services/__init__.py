"""The AWS services of the cloud, one package (or module) each.

``catalog.SERVICES`` lists every service's ``ServiceSpec`` (``cloudctl.server.spec``);
the assembly, the table registry and start-up read that list alone.
"""
