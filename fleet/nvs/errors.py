"""Errors of the NVS area: damaged partitions, bad input to the builder, invalid NodeConfigs.

They subclass the shared kinds of `fleet.errors`, so they keep those exit codes.
"""

from __future__ import annotations

from typing import Any

from fleet.errors import CorruptData, ValidationError


class NvsCorrupt(CorruptData):
    """NVS {where}: {detail}"""

    def __init__(self, detail: str, where: str = "partition", **context: Any) -> None:
        super().__init__(detail, where=where, **context)
        self.where = where


class NvsInputError(ValidationError):
    """NVS entry {where}: {detail}"""

    def __init__(self, detail: str, where: str = "?", **context: Any) -> None:
        super().__init__(detail, where=where, **context)
        self.where = where


class NodeConfigInvalid(ValidationError):
    """NodeConfig of {node_uid}: {field}: {detail}"""

    def __init__(self, node_uid: str, field: str, detail: str, **context: Any) -> None:
        super().__init__(detail, node_uid=node_uid, field=field, **context)
        self.node_uid = node_uid
        self.field = field


class TemplateError(ValidationError):
    """NodeConfig template {template}: {detail}"""

    def __init__(self, template: str, detail: str, **context: Any) -> None:
        super().__init__(detail, template=template, **context)
        self.template = template
