"""PostgreSQL machinery of backups: dumps, base backups, the WAL archive, PITR, scratch clusters.

Owns everything that talks to PostgreSQL programs: finding the right tool versions (`tools`),
logical dumps and their restore (`dump`, `restore`), physical base backups (`base`), WAL
positions (`lsn`), the WAL archive behind `archive_command`/`restore_command` (`wal`), choosing
a base and WAL for a target (`target`), point-in-time recovery (`pitr`), the live cluster's
archiving check (`check`) and throwaway clusters (`cluster`).

May import: the generic backup code (`fleet.backup.repository`, `agecrypt`, `manifest`,
`tarstream`, `settings`) and the shared `fleet.errors`/`fleet.settings`. Never `fleet.cli`,
`fleet.recovery` or `fleet.service`. The postgres layer (`fleet.backup.layers.postgres`)
is built on it.
"""
