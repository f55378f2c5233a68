"""`fleet serve`: the async MQTT service.

Owns the broker connection (`connection`), message dispatch (`dispatch`), liveness
(`liveness`), signed commands (`commands`, `signing` for one-off commands outside the
service), time sync (`timesync`), broker-restore detection and reboot campaigns (`restore`,
`campaign`, `campaign_store`, `pacing`, `report`), the schedule (`schedule`), the control
socket and metrics (`control`, `api`, `metrics`) and the `Service` that runs them (`server`).
May import the domain packages, `fleet.registry`, `fleet.vault`, `fleet.backup` and
`fleet.recovery` (for scheduled backups and drills); never `fleet.cli`.
"""
