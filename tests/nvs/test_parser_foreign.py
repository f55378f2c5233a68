"""Our parser against images it did not build: the generator's file API and CLI."""

from __future__ import annotations

from pathlib import Path

from fleet.nvs import xts
from fleet.nvs.parser import parse_partition

BIG = bytes((i * 7) % 251 for i in range(9000))  # spans three pages in format v2
SMALL = bytes(range(256)) * 6  # 1536 bytes: fits a v1 single-page blob


def _csv(blob_path: Path) -> str:
    return "\n".join(
        [
            "key,type,encoding,value",
            "storage,namespace,,",
            "u8k,data,u8,255",
            "i8k,data,i8,-128",
            "u16k,data,u16,65535",
            "i16k,data,i16,-32768",
            "u32k,data,u32,4294967295",
            "i32k,data,i32,-2147483648",
            "u64k,data,u64,18446744073709551615",
            "i64k,data,i64,-9223372036854775808",
            "strk,data,string,hello wörld",
            "hexk,data,hex2bin,deadbeef",
            "b64k,data,base64,aGVsbG8=",
            f"bink,file,binary,{blob_path}",
            "other,namespace,,",
            "u8k,data,u8,7",
            "strk,data,string,second namespace",
            "",
        ]
    )


def _expected(blob: bytes) -> dict[str, dict[str, object]]:
    return {
        "storage": {
            "u8k": 255,
            "i8k": -128,
            "u16k": 65535,
            "i16k": -32768,
            "u32k": 4294967295,
            "i32k": -2147483648,
            "u64k": 18446744073709551615,
            "i64k": -9223372036854775808,
            "strk": "hello wörld",
            "hexk": bytes.fromhex("deadbeef"),
            "b64k": b"hello",
            "bink": blob,
        },
        "other": {"u8k": 7, "strk": "second namespace"},
    }


def test_file_api_v2_every_encoding_and_multipage_blob(tmp_path, generator_file_api):
    """Every CSV encoding, two namespaces and a 3-page blob from the file API read back exactly."""
    blob = tmp_path / "big.bin"
    blob.write_bytes(BIG)
    part = parse_partition(generator_file_api(_csv(blob), size=0x6000, version=2))
    assert _expected(BIG) == part.as_dict()
    assert 2 == part.version
    assert 3 <= sum(1 for page in part.pages if page.written)
    assert [] == part.problems


def test_file_api_v1_single_page_blobs(tmp_path, generator_file_api):
    """A version-1 image (single-page blobs) reads back with every encoding."""
    blob = tmp_path / "small.bin"
    blob.write_bytes(SMALL)
    part = parse_partition(generator_file_api(_csv(blob), size=0x5000, version=1))
    assert _expected(SMALL) == part.as_dict()
    assert 1 == part.version
    assert "blob" == part.item("storage", "bink").type


def test_cli_v2_image_reads_back(tmp_path, generator_cli):
    """An image made by the generator's command line reads back exactly."""
    blob = tmp_path / "big.bin"
    blob.write_bytes(BIG)
    part = parse_partition(generator_cli(_csv(blob), size=0x6000))
    assert _expected(BIG) == part.as_dict()


def test_cli_encrypted_image_reads_back_with_key(tmp_path, generator_cli):
    """An image encrypted by the generator's CLI reads back given our nvs_keys partition."""
    blob = tmp_path / "big.bin"
    blob.write_bytes(BIG)
    keys = xts.keys_partition(xts.generate_key())
    keyfile = tmp_path / "keys.bin"
    keyfile.write_bytes(keys)
    image = generator_cli(_csv(blob), size=0x6000, keyfile=keyfile)
    part = parse_partition(image, key=keys)
    assert _expected(BIG) == part.as_dict()
    assert part.encrypted
    plain = parse_partition(image, strict=False)
    assert "looks encrypted" in plain.problems[0].what
