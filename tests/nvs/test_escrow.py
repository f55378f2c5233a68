"""The escrow: images built from the registry and site values, kept encrypted in the vault."""

from __future__ import annotations

import hashlib

import pytest

from fleet.context import FleetContext
from fleet.nvs import escrow, site
from fleet.nvs.errors import NodeConfigInvalid
from fleet.nvs.nodeconfig import read_nodeconfig
from fleet.settings import Settings, write_file_setting


def test_build_for_node_escrows_with_meta(ctx):
    """A built image is in the vault with its SHA-256, template and NodeConfig versions."""
    done = escrow.build_for_node(ctx, "nd-ph-1")
    info = ctx.vault.history(escrow.IMAGE_KIND, "nd-ph-1")[0]
    assert done.record_id == info.id
    assert {
        "sha256": hashlib.sha256(done.image).hexdigest(),
        "template_version": 1,
        "config_version": 3,
        "size": 0x6000,
        "node_type": "ph",
        "encrypted": False,
        "keys_record": None,
    } == info.meta
    assert done.image == escrow.image_for_node(ctx, "nd-ph-1", build_if_missing=False)


def test_image_holds_the_nodes_identity_and_site_values(ctx):
    """The NodeConfig in the image carries the node's ids, its node_secret and the site values."""
    config = read_nodeconfig(escrow.build_for_node(ctx, "nd-relay-1").image)
    assert ("nd-relay-1", "gh-1", "zn-1") == (
        config["node_id"],
        config["gh_uid"],
        config["zone_uid"],
    )
    assert ctx.vault.node_secret("nd-relay-1") == config["node_secret"]
    assert {
        "ssid": "hydro-net",
        "pass": "wifi-pass-7f3a",
        "auto_reconnect": True,
        "timeout_sec": 30,
    } == config["wifi"]
    assert {
        "host": "192.168.1.10",
        "port": 1883,
        "keepalive": 30,
        "username": "node",
        "password": "mqtt-pass-c41d",
        "use_tls": False,
    } == config["mqtt"]


def test_old_images_stay_as_history(ctx):
    """Rebuilding keeps the previous image as history; the newest is served."""
    first = escrow.build_for_node(ctx, "nd-ec-1")
    second = escrow.build_for_node(ctx, "nd-ec-1")
    history = ctx.vault.history(escrow.IMAGE_KIND, "nd-ec-1")
    assert [second.record_id, first.record_id] == [h.id for h in history]
    assert second.image == escrow.image_for_node(ctx, "nd-ec-1")


def test_image_for_node_builds_when_missing(ctx):
    """image_for_node builds and escrows an image the first time it is asked for one."""
    image = escrow.image_for_node(ctx, "nd-pump-1")
    assert "nd-pump-1" == read_nodeconfig(image)["node_id"]
    assert 1 == len(ctx.vault.history(escrow.IMAGE_KIND, "nd-pump-1"))


def test_per_node_override_and_password(ctx, site_home):
    """A node's own Wi-Fi override (file) and password (vault) win over the site's."""
    site.set_value(ctx, "wifi.ssid", "barn-net", node_uid="nd-light-1")
    site.set_value(ctx, "wifi.pass", "barn-pass-91", node_uid="nd-light-1")
    fresh = FleetContext.open(settings=Settings.load(site_home, environ={}))
    config = read_nodeconfig(escrow.build_for_node(fresh, "nd-light-1").image)
    other = read_nodeconfig(escrow.build_for_node(fresh, "nd-ph-1").image)
    assert ("barn-net", "barn-pass-91") == (config["wifi"]["ssid"], config["wifi"]["pass"])
    assert ("hydro-net", "wifi-pass-7f3a") == (other["wifi"]["ssid"], other["wifi"]["pass"])
    assert "barn-pass-91" not in (site_home / "fleet.toml").read_text()
    fresh.registry.engine.dispose()


def test_invalid_site_value_fails_naming_node_and_field(ctx, site_home):
    """Without a Wi-Fi SSID the build fails naming the node and wifi.ssid; nothing is escrowed."""
    site.unset_value(ctx, "wifi.ssid")
    fresh = FleetContext.open(settings=Settings.load(site_home, environ={}))
    with pytest.raises(NodeConfigInvalid) as err:
        escrow.build_for_node(fresh, "nd-ph-1")
    assert ("nd-ph-1", "wifi.ssid") == (err.value.node_uid, err.value.field)
    assert [] == fresh.vault.history(escrow.IMAGE_KIND, "nd-ph-1")
    fresh.registry.engine.dispose()


def test_encrypted_escrow_keeps_its_keys(ctx, site_home):
    """With [nvs] encrypt, the nvs_keys partition is escrowed and opens the image."""
    write_file_setting(site_home, "nvs.encrypt", True)
    fresh = FleetContext.open(settings=Settings.load(site_home, environ={}))
    done = escrow.build_for_node(fresh, "nd-ph-1")
    image, meta, keys = escrow.escrowed(fresh, "nd-ph-1")
    assert (True, done.keys_record) == (meta["encrypted"], meta["keys_record"])
    assert keys is not None
    assert "nd-ph-1" == read_nodeconfig(image, keys)["node_id"]
    fresh.registry.engine.dispose()


def test_build_all_builds_every_node_and_audits(ctx):
    """build_all escrows one image per registered node and leaves an audit record."""
    result = escrow.build_all(ctx)
    assert (9, []) == (result.built, result.failures)
    for node in ctx.registry.list_nodes():
        assert 1 == len(ctx.vault.history(escrow.IMAGE_KIND, node.uid))
    assert 1 == len(ctx.registry.audit_log(action="nvs.build_all"))


def test_prune_keeps_the_newest(ctx):
    """Pruning to one image per node deletes the older ones and keeps the newest."""
    escrow.build_for_node(ctx, "nd-ph-1")
    newest = escrow.build_for_node(ctx, "nd-ph-1")
    assert 1 == escrow.prune(ctx, keep=1)
    assert [newest.record_id] == [h.id for h in ctx.vault.history(escrow.IMAGE_KIND, "nd-ph-1")]


def test_node_without_template_is_named(ctx):
    """A node whose type has no template fails naming the node and the known types."""
    from fleet.errors import NotFound
    from fleet.registry import NodeSpec

    ctx.registry.add_node(NodeSpec(uid="nd-x-1", gh_uid="gh-1", zone_uid="zn-1"))
    ctx.vault.set_node_secret("nd-x-1")
    with pytest.raises(NotFound) as err:
        escrow.build_for_node(ctx, "nd-x-1")
    assert err.value.message.startswith(
        "node nd-x-1: no NodeConfig template for node type 'unknown' (known: climate"
    )
