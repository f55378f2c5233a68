"""Bulk re-registration of the whole fleet with the hydro 2.0 backend after a total loss.

Owns `fleet recover nodes`: the backend's registration API client and its wrappers
(`backend`), what each request says (`body`), pacing under the backend's limits (`pacing`),
the station queue and plan (`plan`), settling each node's secret (`settle`), the resumable
journal (`journal`), the `[backend]` settings (`settings`) and the run itself (`run`).

May import: `fleet.protocol`, `fleet.nvs`, `fleet.registry`, `fleet.vault`, the shared
`fleet.errors`/`fleet.settings`/`fleet.context`. Never `fleet.cli`.
"""
