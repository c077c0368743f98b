"""Hypervisor drivers of the node agent.

``base`` holds the interface and its contract; ``libvirt_driver`` the real
driver; ``fake`` the shipped fake on libvirt's ``test://`` hypervisor; ``probe``
chooses the domain type (TCG unless KVM is shown to boot).
"""

from nodectl.driver.base import (
    ComputeDriver,
    DriverError,
    ImageRef,
    InstanceNotFound,
    InstanceSpec,
    InstanceState,
    InstanceStats,
    LifecycleEvent,
    Subscription,
)

__all__ = [
    "ComputeDriver",
    "DriverError",
    "ImageRef",
    "InstanceNotFound",
    "InstanceSpec",
    "InstanceState",
    "InstanceStats",
    "LifecycleEvent",
    "Subscription",
]
