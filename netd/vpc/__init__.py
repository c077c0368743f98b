"""VPC data plane: the ZooKeeper topology contract and the host agent that realises it."""
