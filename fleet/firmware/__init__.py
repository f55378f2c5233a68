"""Firmware bundles: reading `idf.py build` output, validating it, and the store.

- `chips`: the one table of chip facts (image chip id, bootloader offset, flash defaults).
- `image`, `app_desc`, `partition_table`: the ESP-IDF binary formats, parsed and built.
- `bundle` reads a build folder or zip; `validate` refuses anything not right for its chip.
- `store`: validated bundles under `<home>/firmware/<id>/`, assignments to node types/nodes.
"""
