"""The node simulator's public name since 0.1 (scripts import it from here).

The code lives in `fleet.sim.node`; this module only keeps `fleet.sim.nodes.NodeSimulator`
and friends working.
"""

from fleet.sim.node import NodeFaults, NodeSimulator, SimNode, SimOptions, SimStats

__all__ = ["NodeFaults", "NodeSimulator", "SimNode", "SimOptions", "SimStats"]
