"""NVS partitions of hydro 2.0 nodes: NodeConfig templates, the builder, our parser, the escrow.

Domain code: the NodeConfig rules the firmware enforces (`rules`, `nodeconfig`, `templates`),
the partition build through ESP-IDF's generator (`builder`), our own parser with damage
reports (`parser`, `format`, `inspect`), and the encrypted escrow of every node's image
(`escrow`). May import `fleet.protocol`, `fleet.registry`, `fleet.vault` and the shared
`fleet.errors`/`fleet.settings`; never services (`fleet.service`, `fleet.flashing`,
`fleet.ota`, `fleet.recovery`, `fleet.backup`), `fleet.sim` or `fleet.cli`.
"""
