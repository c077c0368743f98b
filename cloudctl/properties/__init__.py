"""Cloud properties: typed, validated, persisted settings tuned at run time.

Owns the registry of property definitions (``registry.py``), the core definitions
(``definitions.py``) and their persistence (``store.py``). A feature declares its
properties here and reads them through ``PropertyStore.get``; a change made in any
API process reaches every process within the poll interval and fires hooks.
"""

from cloudctl.properties.registry import PropertyDef, PropertyError, PropertyType, registry

__all__ = ["PropertyDef", "PropertyError", "PropertyType", "registry"]
