"""hydro 2.0 identifiers, validated once at the edge."""

from __future__ import annotations

import re
from dataclasses import dataclass

from fleet.errors import ValidationError

_HWID = re.compile(r"^esp32-[0-9a-f]{12}$")
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_UID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_SECRET = re.compile(r"^[0-9a-f]{64}$")

NODE_TYPES = (
    "ph",
    "ec",
    "climate",
    "irrig",
    "light",
    "relay",
    "pump",
    "water_sensor",
    "recirculation",
    "unknown",
)
CHIPS = ("esp32", "esp32c3", "esp32s3")


def normalize_mac(text: str) -> str:
    """`AA-BB-CC-DD-EE-FF`, `aabbccddeeff` or `aa:bb:...` -> `aa:bb:cc:dd:ee:ff`."""
    raw = text.strip().lower().replace("-", "").replace(":", "").replace(".", "")
    if not re.fullmatch(r"[0-9a-f]{12}", raw):
        raise ValidationError(f"MAC {text!r} is not 6 hex bytes (aa:bb:cc:dd:ee:ff)", mac=text)
    return ":".join(raw[i : i + 2] for i in range(0, 12, 2))


@dataclass(frozen=True)
class Mac:
    """A factory MAC address, `aa:bb:cc:dd:ee:ff`."""

    value: str

    def __post_init__(self) -> None:
        if not _MAC.fullmatch(self.value):
            object.__setattr__(self, "value", normalize_mac(self.value))

    @property
    def hardware_id(self) -> HardwareId:
        return HardwareId("esp32-" + self.value.replace(":", ""))

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class HardwareId:
    """`esp32-` + 12 lowercase hex digits of the factory MAC; also the MQTT client id."""

    value: str

    def __post_init__(self) -> None:
        if not _HWID.fullmatch(self.value):
            raise ValidationError(
                f"hardware_id {self.value!r} must be 'esp32-' + 12 lowercase hex digits",
                hardware_id=self.value,
            )

    @property
    def mac(self) -> Mac:
        h = self.value[6:]
        return Mac(":".join(h[i : i + 2] for i in range(0, 12, 2)))

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class NodeUid:
    """A node, zone or greenhouse uid such as `nd-ph-1`, `zn-3`, `gh-1`."""

    value: str

    def __post_init__(self) -> None:
        if not _UID.fullmatch(self.value):
            raise ValidationError(
                f"uid {self.value!r} must be 1-63 characters of a-z, 0-9, '-' or '_' "
                "(no '/', '+', '#' or spaces: it is an MQTT topic level)",
                uid=self.value,
            )

    def __str__(self) -> str:
        return self.value


def check_uid(value: str, what: str = "uid") -> str:
    """`value` if it is a valid topic-level uid, else a ValidationError naming `what`."""
    if not _UID.fullmatch(value):
        raise ValidationError(
            f"{what} {value!r} must be 1-63 characters of a-z, 0-9, '-' or '_'", **{what: value}
        )
    return value


def check_node_type(value: str) -> str:
    """`value` if it is one of the hydro 2.0 node types."""
    if value not in NODE_TYPES:
        raise ValidationError(
            f"node type {value!r} is not one of {', '.join(NODE_TYPES)}", node_type=value
        )
    return value


def check_chip(value: str) -> str:
    """A chip name as esptool spells it (esp32, esp32c3, esp32s3); accepts `esp32-c3`."""
    v = value.lower().replace("-", "")
    if v not in CHIPS:
        raise ValidationError(f"chip {value!r} is not one of {', '.join(CHIPS)}", chip=value)
    return v


def check_secret(value: str) -> str:
    """A node_secret: exactly 64 lowercase hex characters. The value never enters the message."""
    if not _SECRET.fullmatch(value):
        raise ValidationError("node_secret must be exactly 64 lowercase hex characters")
    return value
