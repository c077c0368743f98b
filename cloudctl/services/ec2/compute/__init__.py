"""EC2 compute: instances (the launch workflow in ``launch``, the API in ``instances``,
``instance_*``), instance types, key pairs, nodes and the scheduler, and the instance
controller that converges instances onto nodes. ``providers`` lists the compute
providers; ``models`` the compute tables.
"""
