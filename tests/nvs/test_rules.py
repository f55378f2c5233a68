"""NodeConfig rules as the firmware applies them; violations name node, field and rule."""

from __future__ import annotations

import pytest

from fleet.errors import NotFound
from fleet.nvs.builder import NvsEntry, build_partition
from fleet.nvs.errors import NodeConfigInvalid, NvsInputError, TemplateError
from fleet.nvs.parser import parse_partition
from fleet.nvs.render import render
from fleet.nvs.rules import Violation, serialize, validate, violations
from fleet.nvs.templates import BUNDLED_DIR, Template, template_for


def _good() -> dict:
    return {
        "node_id": "nd-relay-1",
        "version": 3,
        "type": "relay_node",
        "gh_uid": "gh-1",
        "zone_uid": "zn-1",
        "node_secret": "ab" * 32,
        "channels": [
            {"name": "v1", "type": "ACTUATOR", "actuator_type": "VALVE", "relay_type": "NO"}
        ],
        "wifi": {"ssid": "net", "pass": "x"},
        "mqtt": {"host": "10.0.0.1", "port": 1883, "keepalive": 30},
    }


def test_valid_config_has_no_violation():
    """A complete NodeConfig passes."""
    assert [] == violations(_good(), "nd-relay-1")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda c: c.pop("zone_uid"), Violation("zone_uid", "required: a non-empty string")),
        (lambda c: c.pop("channels"), Violation("channels", "required: an array")),
        (
            lambda c: c["wifi"].update(ssid=""),
            Violation("wifi.ssid", "required: a non-empty string (`fleet site set wifi.ssid`)"),
        ),
        (
            lambda c: c["mqtt"].update(port=70000),
            Violation("mqtt.port", "required: an integer in 1..65535"),
        ),
        (
            lambda c: c["mqtt"].pop("host"),
            Violation("mqtt.host", "required: a non-empty string (`fleet site set mqtt.host`)"),
        ),
        (
            lambda c: c["channels"][0].pop("relay_type"),
            Violation("channels[0] (v1).relay_type", "a VALVE actuator needs relay_type NC or NO"),
        ),
        (
            lambda c: c.update(node_secret="ABC"),
            Violation("node_secret", "must be 64 lowercase hex characters"),
        ),
        (
            lambda c: c.update(node_id="nd-other"),
            Violation("node_id", "must be the node's uid 'nd-relay-1'"),
        ),
        (
            lambda c: c.update(calibration={"blob": "x" * 4000}),
            Violation(
                "(size)",
                "unformatted JSON is 4371 bytes; max 3967 (the NVS generator cannot place a "
                "longer string in one page)",
            ),
        ),
    ],
)
def test_each_rule_is_named(change, expected):
    """Each firmware rule, broken alone, is reported with its field and rule."""
    config = _good()
    change(config)
    assert [expected] == violations(config, "nd-relay-1")


def test_validate_raises_naming_node_field_and_rule():
    """validate() raises NodeConfigInvalid whose message names node, field and rule."""
    config = _good()
    config["wifi"]["ssid"] = ""
    with pytest.raises(NodeConfigInvalid) as err:
        validate(config, "nd-relay-1")
    assert (
        "NodeConfig of nd-relay-1: wifi.ssid: required: a non-empty string "
        "(`fleet site set wifi.ssid`)"
    ) == err.value.message


def test_unknown_placeholder_is_refused():
    """A template with a typo in a placeholder is an error naming it, not an empty value."""
    tpl = template_for("ph", [BUNDLED_DIR])
    bad = Template(tpl.node_type, 1, (), "", {"node_id": "${node.iud}"}, tpl.path)
    with pytest.raises(TemplateError) as err:
        render(bad, {"node.uid": "x"})
    assert "unknown placeholder ${node.iud}" in err.value.message


def test_unknown_node_type_lists_known_ones():
    """Asking for a type without a template says which types exist."""
    with pytest.raises(NotFound) as err:
        template_for("unknown", [BUNDLED_DIR])
    assert "known: climate, ec, irrig, light, ph, pump, recirculation, relay, water_sensor" in (
        err.value.message
    )


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (NvsEntry("node_config", "a_key_of_16_byte", "u8", 1), "is 16 bytes; NVS allows 15"),
        (NvsEntry("node_config", "sta.ssid", "string", "x"), "sta.*/ap.* keys are rewritten"),
        (NvsEntry("node_config", "ap.passwd", "string", "x"), "sta.*/ap.* keys are rewritten"),
        (NvsEntry("node_config", "n", "u8", 256), "u8 value 256 is not an integer in 0..255"),
        (NvsEntry("node_config", "s", "string", "x" * 4000), "string of 4001 bytes exceeds 4000"),
        (NvsEntry("node_config", "h", "hex2bin", "abc"), "hex2bin value is not valid hex2bin"),
    ],
)
def test_builder_refuses_what_the_generator_would_mangle(entry, message):
    """Long keys, sta.*/ap.* keys, out-of-range numbers and oversize strings are refused."""
    with pytest.raises(NvsInputError) as err:
        build_partition([entry])
    assert message in err.value.message


def test_builder_refuses_entries_that_do_not_fit():
    """More data than the partition holds is refused, naming the size."""
    entries = [NvsEntry("ns", f"k{i}", "binary", bytes(3000)) for i in range(4)]
    with pytest.raises(NvsInputError) as err:
        build_partition(entries, size=0x3000)
    assert "do not fit in a 0x3000-byte partition" in err.value.message


def _config_of_size(size: int) -> dict:
    config = _good()
    config["calibration"] = {"pad": ""}
    base = len(serialize(config).encode())
    config["calibration"]["pad"] = "x" * (size - base)
    assert size == len(serialize(config).encode())
    return config


@pytest.mark.parametrize("size", [3966, 3967])
def test_nodeconfig_up_to_3967_bytes_builds_and_reads_back(size):
    """The longest NodeConfigs that fit one NVS page build, and the parser reads them back."""
    config = _config_of_size(size)
    assert [] == violations(config, "nd-relay-1")
    text = serialize(config)
    image = build_partition([NvsEntry("node_config", "config", "string", text)])
    assert text == parse_partition(image).get("node_config", "config")


@pytest.mark.parametrize("size", [3968, 3980, 3999, 4000])
def test_nodeconfig_of_3968_bytes_or_more_is_refused_not_crashed(size):
    """3,968-3,999 bytes crashed the generator (PageFullError): now one clear refusal."""
    config = _config_of_size(size)
    assert ["(size)"] == [v.field for v in violations(config, "nd-relay-1")]
    with pytest.raises(NvsInputError, match=r"one NVS page|exceeds 4000"):
        build_partition([NvsEntry("node_config", "config", "string", serialize(config))])
