"""The image is as large as the nvs partition of the node's assigned firmware."""

from __future__ import annotations

from fleet.firmware.store import FirmwareStore
from fleet.nvs import escrow
from fleet.nvs.parser import parse_partition
from fleet.sim.firmware_gen import write_bundle


def test_size_follows_the_assigned_partition_table(ctx, tmp_path):
    """A type assigned an OTA-layout firmware (nvs 0x4000) gets 0x4000 images; others 0x6000."""
    store = FirmwareStore(ctx.registry, ctx.home)
    bundle = write_bundle(tmp_path / "ota", "esp32", layout="ota", app_size=120_000).path
    entry, _ = store.import_bundle(bundle)
    store.assign(entry.id, node_type="ph")
    ph = escrow.build_for_node(ctx, "nd-ph-1")
    ec = escrow.build_for_node(ctx, "nd-ec-1")
    assert (0x4000, 0x6000) == (ph.size, ec.size)
    assert 0x4000 == parse_partition(ph.image, expected_size=0x4000).size


def test_verify_flags_an_image_of_the_wrong_size_for_the_node(ctx, tmp_path, run_fleet):
    """After the node's firmware changes to a smaller nvs partition, its old image fails verify."""
    escrow.build_for_node(ctx, "nd-ec-1")  # 0x6000: no firmware assigned yet
    store = FirmwareStore(ctx.registry, ctx.home)
    bundle = write_bundle(tmp_path / "ota", "esp32", layout="ota", app_size=120_000).path
    entry, _ = store.import_bundle(bundle)
    store.assign(entry.id, node_type="ec")
    r = run_fleet(ctx.home, "nvs", "verify", "--node", "nd-ec-1", "--json")
    assert 65 == r.returncode
    assert "size 0x6000 differs from the nvs partition size 0x4000" in r.stdout
