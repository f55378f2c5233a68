"""Over-the-air updates of live nodes: plan, signed URLs, the firmware server, the run, the report.

Owns `fleet ota`: which nodes may take which firmware (`policy`, `plan`), the short-lived
signed URLs and the HTTP server that honours them (`url`, `server`), the MQTT run that
follows every node back to ONLINE on its new version (`run`), and what it reports (`report`).

May import: `fleet.protocol`, `fleet.firmware`, `fleet.registry`, `fleet.vault`, the shared
`fleet.errors`/`fleet.settings`/`fleet.context`. Never `fleet.cli`, nor USB flashing.
"""
