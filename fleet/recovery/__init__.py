"""Whole-site recovery and restore drills.

Owns `fleet recover site` (`plan`, `site`, `steps`, `postgres`, `journal`), opening a snapshot
for restoring (`source`), `fleet drill` (`drill`, `drill_checks`), `fleet status` (`status`)
and the `[recovery]`/`[drill]` settings (`settings`). Built on `fleet.backup`; may import the
domain packages and the registry; never `fleet.cli`. Bulk re-registration of nodes is
`fleet.reregister`.
"""
