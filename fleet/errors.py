"""Errors a user can act on.

Each class's docstring is its message template; each kind carries its own exit code so
that scripts can tell a bad argument from a missing tool from a damaged file. Anything
that is not a `FleetError` is a bug and exits with 70 (EX_SOFTWARE).
"""

from __future__ import annotations

from typing import Any, ClassVar


class FleetError(Exception):
    """{detail}"""

    exit_code: ClassVar[int] = 1

    def __init__(self, detail: str = "", **context: Any) -> None:
        self.detail = detail
        self.context = context
        super().__init__(self.message)

    @property
    def message(self) -> str:
        doc = (type(self).__doc__ or "{detail}").strip().splitlines()[0]
        try:
            return doc.format(detail=self.detail, **self.context)
        except (KeyError, IndexError):
            return self.detail or doc

    def to_dict(self) -> dict[str, Any]:
        """What `--json` prints for this error."""
        return {
            "error": type(self).__name__,
            "message": self.message,
            "exit_code": self.exit_code,
            **{k: str(v) for k, v in self.context.items()},
        }


class UsageError(FleetError):
    """{detail}"""

    exit_code = 2


class ValidationError(FleetError):
    """{detail}"""

    exit_code = 65  # EX_DATAERR


class NotFound(FleetError):
    """{detail}"""

    exit_code = 66  # EX_NOINPUT


class NodeNotFound(NotFound):
    """node {node_uid} is not registered"""

    def __init__(self, node_uid: str) -> None:
        super().__init__("", node_uid=node_uid)
        self.node_uid = node_uid


class Conflict(FleetError):
    """{detail}"""

    exit_code = 73  # EX_CANTCREAT


class MissingPrerequisite(FleetError):
    """{detail}"""

    exit_code = 69  # EX_UNAVAILABLE


class ConfigError(FleetError):
    """configuration: {detail}"""

    exit_code = 78  # EX_CONFIG


class VaultError(FleetError):
    """vault: {detail}"""

    exit_code = 77  # EX_NOPERM


class CorruptData(FleetError):
    """{detail}"""

    exit_code = 74  # EX_IOERR


class DeviceError(FleetError):
    """device {port}: {detail}"""

    exit_code = 75  # EX_TEMPFAIL

    def __init__(self, detail: str, port: str = "?", **context: Any) -> None:
        super().__init__(detail, port=port, **context)
        self.port = port


class BrokerError(FleetError):
    """broker: {detail}"""

    exit_code = 75


class BackupError(FleetError):
    """backup: {detail}"""

    exit_code = 74


class LayerError(BackupError):
    """layer {layer}: {detail}"""

    def __init__(self, layer: str, detail: str, **context: Any) -> None:
        super().__init__(detail, layer=layer, **context)
        self.layer = layer
