"""Site backups: the snapshot repository, manifests, age encryption, tar streams, retention.

Generic machinery (`repository`, `manifest`, `agecrypt`, `tarstream`, `runner`, `verify`,
`prune`, `retention`, `restore`) plus the pluggable layer handlers (`layers/`: one file per
layer, one registry) and the PostgreSQL subsystem (`postgres/`). May import the domain
packages, `fleet.registry`, `fleet.vault`; never `fleet.recovery`, `fleet.service` or
`fleet.cli`.
"""
