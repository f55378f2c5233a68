"""Simulated hydro 2.0 nodes on a real MQTT broker: one concept, in parts.

`firmware` is a node's state and command checks (pure), `wire` a lean MQTT client, `group`
one MQTT connection with its nodes, `ota` what a node does with `OTA_UPDATE`, `roster` which
nodes run, `settings` the `[sim]` section, and `simulator` the `NodeSimulator` that runs them
(also importable as `fleet.sim.nodes`).

May import: `fleet.protocol`, `fleet.firmware`, `fleet.registry`, `fleet.errors`. Never
`fleet.cli` nor the service it is used to test.
"""

from fleet.sim.node.firmware import NodeFaults, SimNode
from fleet.sim.node.group import SimOptions, SimStats
from fleet.sim.node.simulator import NodeSimulator

__all__ = ["NodeFaults", "NodeSimulator", "SimNode", "SimOptions", "SimStats"]
