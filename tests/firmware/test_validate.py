"""Bundle import validation: good bundles pass, each kind of bad bundle is refused by name."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fleet.errors import NotFound, ValidationError
from fleet.firmware.bundle import read_bundle
from fleet.firmware.image import ImageHeader, Segment, encode_image, parse_image
from fleet.firmware.partition_table import HYDRO_FACTORY, PartitionTable, part
from fleet.firmware.validate import FirmwareBundle, validate_bundle
from fleet.sim.firmware_gen import build_app_image, build_bootloader_image

from .conftest import app_path, edit_args


def load(path: Path) -> FirmwareBundle:
    return validate_bundle(read_bundle(path))


def refused(path: Path) -> str:
    with pytest.raises(ValidationError) as info:
        load(path)
    return info.value.message


@pytest.mark.parametrize("chip", ["esp32", "esp32c3", "esp32s3"])
@pytest.mark.parametrize("layout", ["factory", "ota"])
def test_generated_bundle_is_accepted(
    make_bundle: Callable[..., Path], chip: str, layout: str
) -> None:
    """A generated bundle of every chip and layout validates with its app description."""
    bundle = load(make_bundle(chip, layout=layout, version="2.1.0"))
    assert chip == bundle.chip
    assert ("hydro-node", "2.1.0", "v5.2.1") == (
        bundle.app.project,
        bundle.app.version,
        bundle.app.idf_version,
    )
    roles = [f.role for f in bundle.files]
    expected = ["bootloader", "partition-table", "otadata", "app"]
    if layout == "factory":
        expected.remove("otadata")
    assert expected == roles


def test_zip_bundle_with_top_folder_is_accepted(make_bundle: Callable[..., Path]) -> None:
    """A zip of a build folder (files under build/) imports like the folder."""
    src = make_bundle("esp32")
    zipped = src.parent / "b.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        for f in src.rglob("*"):
            if f.is_file():
                zf.write(f, f"build/{f.relative_to(src)}")
    assert load(src).app_sha256 == load(zipped).app_sha256


def test_wrong_chip_app_is_refused(make_bundle: Callable[..., Path]) -> None:
    """An ESP32-C3 app inside an ESP32 bundle is refused naming the chip ids."""
    bundle = make_bundle("esp32")
    app_path(bundle).write_bytes(build_app_image("esp32c3", 100_000))
    message = refused(bundle)
    assert "built for chip id 5" in message and "esp32" in message


def test_wrong_chip_bootloader_is_refused(make_bundle: Callable[..., Path]) -> None:
    """An ESP32-S3 bootloader in an ESP32 bundle is refused."""
    bundle = make_bundle("esp32")
    (bundle / "bootloader/bootloader.bin").write_bytes(build_bootloader_image("esp32s3"))
    assert "built for chip id 9" in refused(bundle)


def test_truncated_app_is_refused(make_bundle: Callable[..., Path]) -> None:
    """An app cut short (interrupted copy) is refused as truncated."""
    bundle = make_bundle("esp32")
    path = app_path(bundle)
    path.write_bytes(path.read_bytes()[:50_000])
    assert "truncated" in refused(bundle)


def test_tampered_segment_byte_is_refused(make_bundle: Callable[..., Path]) -> None:
    """One flipped byte in the app's code is refused as tampered."""
    bundle = make_bundle("esp32")
    path = app_path(bundle)
    data = bytearray(path.read_bytes())
    data[60_000] ^= 0x01
    path.write_bytes(bytes(data))
    assert "tampered" in refused(bundle)


def test_tampered_digest_is_refused(make_bundle: Callable[..., Path]) -> None:
    """An app whose bytes were changed with the checksum fixed up still fails its SHA-256."""
    bundle = make_bundle("esp32")
    path = app_path(bundle)
    data = bytearray(path.read_bytes())
    image = parse_image(bytes(data))
    offset = image.segments[3].file_offset + 100
    data[offset] ^= 0x01
    data[image.length - 33] ^= 0x01  # the checksum byte, so that only the digest is wrong
    path.write_bytes(bytes(data))
    message = refused(bundle)
    assert "SHA-256" in message


def _rebuild_app(bundle: Path, edit_desc: Callable[[bytes], bytes]) -> None:
    path = app_path(bundle)
    image = parse_image(path.read_bytes())
    segs = [Segment(s.load_addr, s.data) for s in image.segments]
    segs[0] = Segment(segs[0].load_addr, edit_desc(segs[0].data))
    header = image.header
    path.write_bytes(encode_image(header, segs))


def test_bad_app_description_magic_is_refused(make_bundle: Callable[..., Path]) -> None:
    """A well-formed image without the 0xABCD5432 app description is refused."""
    bundle = make_bundle("esp32")
    _rebuild_app(bundle, lambda d: b"\0\0\0\0" + d[4:])
    assert "no app description" in refused(bundle)


def test_empty_project_name_is_refused(make_bundle: Callable[..., Path]) -> None:
    """An app description with an empty project name is refused."""
    bundle = make_bundle("esp32")
    _rebuild_app(bundle, lambda d: d[:48] + b"\0" * 32 + d[80:])
    assert "empty project name" in refused(bundle)


def test_bootloader_given_as_app_is_refused(make_bundle: Callable[..., Path]) -> None:
    """A bootloader image in the app slot is refused (no DROM app description)."""
    bundle = make_bundle("esp32")
    app_path(bundle).write_bytes(build_bootloader_image("esp32"))
    assert "not DROM" in refused(bundle)


def test_partition_table_bad_md5_is_refused(make_bundle: Callable[..., Path]) -> None:
    """A partition table whose rows do not match the MD5 row is refused."""
    bundle = make_bundle("esp32")
    path = bundle / "partition_table/partition-table.bin"
    data = bytearray(path.read_bytes())
    data[12] ^= 0x01  # size of the first partition
    path.write_bytes(bytes(data))
    assert "MD5 row" in refused(bundle)


def test_app_too_big_for_partition_is_refused(make_bundle: Callable[..., Path]) -> None:
    """An app larger than its partition is refused naming the partition."""
    table = PartitionTable(
        (
            part("nvs", "data", "nvs", 0x9000, 0x6000),
            part("factory", "app", "factory", 0x10000, 0x10000),
        )
    )
    message = refused(make_bundle("esp32", table=table))
    assert "does not fit partition 'factory'" in message


def test_wrong_bootloader_offset_is_refused(make_bundle: Callable[..., Path]) -> None:
    """An ESP32 bundle that writes its bootloader at 0x0 (the C3/S3 offset) is refused."""
    bundle = make_bundle("esp32")

    def edit(args: dict[str, Any]) -> None:
        args["bootloader"]["offset"] = "0x0"

    edit_args(bundle, edit)
    assert "bootloader offset 0x0 is wrong for esp32 (expected 0x1000)" in refused(bundle)


def test_app_not_at_a_partition_is_refused(make_bundle: Callable[..., Path]) -> None:
    """An app offset that is not the start of an app partition is refused."""
    bundle = make_bundle("esp32")

    def edit(args: dict[str, Any]) -> None:
        args["app"]["offset"] = "0x20000"

    edit_args(bundle, edit)
    assert "not the start of an app partition" in refused(bundle)


def test_ota_table_without_otadata_file_is_refused(make_bundle: Callable[..., Path]) -> None:
    """A table with otadata but no ota_data_initial.bin in the bundle is refused."""
    bundle = make_bundle("esp32", layout="ota")

    def edit(args: dict[str, Any]) -> None:
        del args["otadata"]

    edit_args(bundle, edit)
    assert "no ota_data_initial.bin" in refused(bundle)


def test_non_firmware_file_is_refused(tmp_path: Path) -> None:
    """A text file given as a bundle is refused as not a firmware bundle."""
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    assert "not a firmware bundle" in refused(path)


def test_zip_without_flasher_args_is_refused(tmp_path: Path) -> None:
    """A zip that is not an idf.py build output is refused."""
    path = tmp_path / "x.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("firmware.bin", b"\xe9" * 100)
    assert "no flasher_args.json" in refused(path)


def test_path_outside_bundle_is_refused(make_bundle: Callable[..., Path]) -> None:
    """flasher_args.json naming ../ files is refused instead of reading outside the bundle."""
    bundle = make_bundle("esp32")

    def edit(args: dict[str, Any]) -> None:
        args["app"]["file"] = "../../etc/passwd"

    edit_args(bundle, edit)
    assert "outside the bundle" in refused(bundle)


def test_missing_bundle_is_not_found(tmp_path: Path) -> None:
    """A path that does not exist is reported as not found."""
    with pytest.raises(NotFound):
        read_bundle(tmp_path / "nope")


def test_image_roundtrip() -> None:
    """encode_image and parse_image agree on segments, checksum and digest."""
    header = ImageHeader(0, 2, 0x20, 0x40080400, chip_id=0)
    segs = [Segment(0x3F400020, b"\x01\x02\x03\x04" * 10), Segment(0x40080000, b"\xaa" * 8)]
    image = parse_image(encode_image(header, segs))
    assert [s.data for s in segs] == [s.data for s in image.segments]
    assert (True, True, 0) == (image.checksum_ok, image.digest_ok, image.trailing)
    assert HYDRO_FACTORY.nvs is not None
