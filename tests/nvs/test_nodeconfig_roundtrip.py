"""Every template renders to a valid NodeConfig whose NVS image reads back identically."""

from __future__ import annotations

import csv
import io
import secrets

import pytest

from fleet.nvs import xts
from fleet.nvs.nodeconfig import build_nodeconfig_image, read_nodeconfig
from fleet.nvs.parser import parse_partition
from fleet.nvs.render import render
from fleet.nvs.rules import serialize, violations
from fleet.nvs.templates import BUNDLED_DIR, load_templates, template_dirs, template_for

TYPES = ("ph", "ec", "climate", "irrig", "light", "relay", "pump", "water_sensor", "recirculation")


def _values(uid: str, zone: str, **site: object) -> dict[str, object]:
    base: dict[str, object] = {
        "node.uid": uid,
        "node.gh_uid": "gh-1",
        "node.zone_uid": zone,
        "node.hardware_id": "esp32-aabbccddeeff",
        "node.mac": "aa:bb:cc:dd:ee:ff",
        "node.node_type": "x",
        "node.chip": "esp32",
        "secret.node_secret": secrets.token_hex(32),
        "site.wifi.ssid": "hydro-net",
        "site.wifi.pass": 'pässwörd "quoted", comma',
        "site.wifi.auto_reconnect": True,
        "site.wifi.timeout_sec": 30,
        "site.mqtt.host": "192.168.1.10",
        "site.mqtt.port": 1883,
        "site.mqtt.keepalive": 30,
        "site.mqtt.username": None,
        "site.mqtt.password": None,
        "site.mqtt.use_tls": False,
    }
    base.update({f"site.{k.replace('__', '.')}": v for k, v in site.items()})
    return base


def test_bundled_templates_cover_every_node_type():
    """One template per hydro 2.0 node type ships in nvs_templates/."""
    found = load_templates([BUNDLED_DIR])
    assert set(TYPES) == {t.node_type for t in found.values()}


@pytest.mark.parametrize("node_type", TYPES)
def test_every_template_round_trips_through_nvs(node_type):
    """template x 3 nodes -> NodeConfig -> image -> our parser -> the same NodeConfig."""
    tpl = template_for(node_type, [BUNDLED_DIR])
    for n, zone in enumerate(("zn-1", "zn-2", "zn-temp")):
        uid = f"nd-{node_type}-{n}"
        config = render(tpl, _values(uid, zone))
        assert [] == violations(config, uid)
        assert uid == config["node_id"]
        assert "username" not in config["mqtt"]  # unset values are dropped, not sent as null
        assert config == read_nodeconfig(build_nodeconfig_image(config))


def test_encrypted_image_round_trips_with_its_keys():
    """An XTS-encrypted NodeConfig image reads back only with its nvs_keys partition."""
    config = render(template_for("ph", [BUNDLED_DIR]), _values("nd-ph-1", "zn-1"))
    key = xts.generate_key()
    image = build_nodeconfig_image(config, key=key)
    assert config == read_nodeconfig(image, xts.keys_partition(key))
    assert serialize(config).encode() not in image


def _csv_for(text: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows(
        [
            ["key", "type", "encoding", "value"],
            ["node_config", "namespace", "", ""],
            ["config", "data", "string", text],
        ]
    )
    return out.getvalue()


def test_same_nodeconfig_from_in_memory_file_api_and_cli(generator_file_api, generator_cli):
    """The in-memory build, the generator's file API and its CLI give the same parsed values."""
    config = render(template_for("climate", [BUNDLED_DIR]), _values("nd-climate-1", "zn-1"))
    text = serialize(config)
    ours = parse_partition(build_nodeconfig_image(config)).as_dict()
    via_file = parse_partition(generator_file_api(_csv_for(text))).as_dict()
    via_cli = parse_partition(generator_cli(_csv_for(text))).as_dict()
    assert {"node_config": {"config": text}} == ours
    assert ours == via_file
    assert ours == via_cli


def test_user_template_folder_adds_a_node_type(tmp_path):
    """A JSON file in $FLEET_HOME/nvs_templates adds a node type without code."""
    folder = tmp_path / "nvs_templates"
    folder.mkdir()
    src = (BUNDLED_DIR / "relay.json").read_text().replace('"relay"', '"dosing"', 1)
    (folder / "dosing.json").write_text(src)
    tpl = template_for("dosing", template_dirs(tmp_path))
    assert ("dosing", folder / "dosing.json") == (tpl.node_type, tpl.path)
    assert "relay" == template_for("relay", template_dirs(tmp_path)).node_type
