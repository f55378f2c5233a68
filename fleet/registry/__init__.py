"""The node registry: SQLAlchemy models, migrations, and the repository."""

from fleet.registry.node import Node
from fleet.registry.repo import NodeSpec, Registry

__all__ = ["Node", "NodeSpec", "Registry"]
