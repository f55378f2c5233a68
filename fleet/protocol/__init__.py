"""The hydro 2.0 protocol: identifiers, topics, canonical JSON, signing, message types."""

from fleet.protocol.canonical import canonical_json
from fleet.protocol.ids import HardwareId, Mac, NodeUid, normalize_mac
from fleet.protocol.signing import (
    MAX_SKEW_S,
    ProtocolError,
    build_command,
    new_cmd_id,
    sign_command,
    verify_command,
)
from fleet.protocol.topics import (
    HELLO_TOPIC,
    TIME_REQUEST_TOPIC,
    TIME_RESPONSE_TOPIC,
    TopicParts,
    channel_topic,
    node_topic,
    ota_topic,
    parse_topic,
    temp_topic,
)

__all__ = [
    "HELLO_TOPIC",
    "MAX_SKEW_S",
    "TIME_REQUEST_TOPIC",
    "TIME_RESPONSE_TOPIC",
    "HardwareId",
    "Mac",
    "NodeUid",
    "ProtocolError",
    "TopicParts",
    "build_command",
    "canonical_json",
    "channel_topic",
    "new_cmd_id",
    "node_topic",
    "normalize_mac",
    "ota_topic",
    "parse_topic",
    "sign_command",
    "temp_topic",
    "verify_command",
]
