"""Generator of valid ESP-IDF firmware bundles, for tests, benchmarks and the demo.

There is no ESP-IDF toolchain here, so `fleet.sim` builds what `idf.py build` would leave:
an app image that `esptool image-info` reports valid (checksum, SHA-256, app description),
a bootloader image with its bootloader description, the hydro 2.0 partition table (or the
one with OTA slots, plus `ota_data_initial.bin`) and `flasher_args.json`. App content is
drawn from a skewed vocabulary of 3-byte words so that it deflates like real firmware
(to about 65 % with esptool's zlib level 9), not like padding.

The bytes are deterministic for a given seed: two calls with the same arguments give the
same bundle, which is what a "reflash with unchanged app" needs.
"""

from __future__ import annotations

import itertools
import json
import random
import zipfile
from dataclasses import dataclass
from pathlib import Path

from fleet.firmware.app_desc import AppDescription, BootloaderDescription
from fleet.firmware.chips import FLASH_MODES, chip
from fleet.firmware.image import ImageHeader, Segment, encode_image
from fleet.firmware.partition_table import LAYOUTS, OTADATA_SIZE, TABLE_OFFSET, PartitionTable

DEFAULT_APP_SIZE = 1_500_000
DEFAULT_IDF = "v5.2.1"
_VOCAB = 4096
_WORD = 3


def firmware_like_bytes(size: int, seed: int) -> bytes:
    """`size` bytes that deflate (zlib level 9) to about 65 %, like compiled code."""
    rng = random.Random(seed)
    vocab = [rng.getrandbits(8 * _WORD).to_bytes(_WORD, "little") for _ in range(_VOCAB)]
    cum = list(itertools.accumulate(1.0 / (i + 1) for i in range(_VOCAB)))
    words = rng.choices(vocab, cum_weights=cum, k=size // _WORD + 1)
    return b"".join(words)[:size]


def _align4(n: int) -> int:
    return (n + 3) & ~3


def _header(
    chip_name: str, flash_size: str, flash_freq: str, flash_mode: str, entry: int
) -> ImageHeader:
    facts = chip(chip_name)
    return ImageHeader(
        segment_count=0,
        flash_mode=FLASH_MODES[flash_mode],
        flash_size_freq=facts.flash_size_code(flash_size) | facts.flash_freq_code(flash_freq),
        entry=entry,
        chip_id=facts.image_chip_id,
    )


def build_app_image(
    chip_name: str = "esp32",
    size: int = DEFAULT_APP_SIZE,
    *,
    project: str = "hydro-node",
    version: str = "2.0.0",
    idf_version: str = DEFAULT_IDF,
    seed: int = 1,
    flash_size: str | None = None,
) -> bytes:
    """An app image of about `size` bytes for `chip_name`: DROM (app description first),
    DRAM, IRAM and IROM segments, checksum and SHA-256 appended.
    """
    facts = chip(chip_name)
    body = firmware_like_bytes(max(size - 512, 4096), seed)
    desc = AppDescription(
        project=project,
        version=version,
        idf_version=idf_version,
        date="Nov 27 2026",
        time="12:00:00",
        elf_sha256=random.Random(seed).randbytes(32).hex(),
    )
    n = len(body)
    cuts = [_align4(n // 10), _align4(n // 10 + n // 64), _align4(n // 10 + n // 64 + n // 32)]
    rodata, dram, iram, irom = (
        body[: cuts[0]],
        body[cuts[0] : cuts[1]],
        body[cuts[1] : cuts[2]],
        body[cuts[2] :],
    )
    drom_data = desc.encode() + rodata
    # Flash-mapped segments keep (virtual address - file offset) a multiple of 64 KiB,
    # as the ESP-IDF linker arranges; 24-byte header + 8-byte segment header = 0x20.
    segments = [
        Segment(facts.drom_base + 0x20, drom_data),
        Segment(facts.dram_base, dram),
        Segment(facts.iram_base, iram),
    ]
    irom_file_offset = 0x18 + sum(8 + len(s.data) for s in segments) + 8
    segments.append(Segment(facts.irom_base + irom_file_offset, irom[: len(irom) & ~3]))
    header = _header(
        chip_name,
        flash_size or facts.default_flash_size,
        facts.default_flash_freq,
        facts.default_flash_mode,
        facts.iram_base + 0x400,
    )
    return encode_image(header, segments)


def build_bootloader_image(
    chip_name: str = "esp32", *, idf_version: str = DEFAULT_IDF, seed: int = 7
) -> bytes:
    """A ~26 KiB bootloader image for `chip_name` with its bootloader description."""
    facts = chip(chip_name)
    body = firmware_like_bytes(26_000, seed)
    desc = BootloaderDescription(version=1, idf_version=idf_version, date_time="Nov 27 2026")
    dram = desc.encode() + body[:2_000]
    segments = [
        Segment(facts.dram_base + 0x40000 - 0x8000, dram),
        Segment(facts.iram_base + 0x18000, body[2_000:14_000]),
        Segment(facts.iram_base + 0x1C000, body[14_000:26_000]),
    ]
    header = _header(
        chip_name,
        facts.default_flash_size,
        facts.default_flash_freq,
        facts.default_flash_mode,
        facts.iram_base + 0x18000,
    )
    return encode_image(header, segments)


@dataclass(frozen=True)
class GeneratedBundle:
    """Where a generated bundle was written and what it holds."""

    path: Path
    chip: str
    layout: str
    project: str
    version: str
    app_size: int


def write_bundle(
    dest: Path | str,
    chip_name: str = "esp32",
    *,
    layout: str = "factory",
    app_size: int = DEFAULT_APP_SIZE,
    project: str = "hydro-node",
    version: str = "2.0.0",
    seed: int = 1,
    as_zip: bool = False,
    table: PartitionTable | None = None,
) -> GeneratedBundle:
    """Write an `idf.py build`-like folder (or a zip of it when `as_zip`) at `dest`.

    `layout` is "factory" (hydro 2.0 production) or "ota" (otadata + ota_0/ota_1); `table`
    overrides it. Returns where it was written; the folder is created if needed.
    """
    facts = chip(chip_name)
    pt = table or LAYOUTS[layout]
    app_part = pt.boot_app
    assert app_part is not None
    files: dict[str, tuple[int, str, bytes]] = {
        "bootloader": (
            facts.bootloader_offset,
            "bootloader/bootloader.bin",
            build_bootloader_image(chip_name),
        ),
        "partition-table": (TABLE_OFFSET, "partition_table/partition-table.bin", pt.encode()),
        "app": (
            app_part.offset,
            f"{project}.bin",
            build_app_image(chip_name, app_size, project=project, version=version, seed=seed),
        ),
    }
    if pt.otadata is not None:
        files["otadata"] = (pt.otadata.offset, "ota_data_initial.bin", b"\xff" * OTADATA_SIZE)
    settings = {
        "flash_mode": facts.default_flash_mode,
        "flash_size": facts.default_flash_size,
        "flash_freq": facts.default_flash_freq,
    }
    args: dict[str, object] = {
        "write_flash_args": [
            "--flash_mode",
            settings["flash_mode"],
            "--flash_size",
            settings["flash_size"],
            "--flash_freq",
            settings["flash_freq"],
        ],
        "flash_settings": settings,
        "flash_files": {f"0x{off:x}": name for off, name, _ in files.values()},
        **{
            role: {"offset": f"0x{off:x}", "file": name, "encrypted": "false"}
            for role, (off, name, _) in files.items()
        },
        "extra_esptool_args": {
            "after": "hard_reset",
            "before": "default_reset",
            "stub": True,
            "chip": facts.name,
        },
    }
    blobs = {name: data for _, name, data in files.values()}
    blobs["flasher_args.json"] = json.dumps(args, indent=4).encode()
    out = Path(dest)
    if as_zip:
        out.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in blobs.items():
                zf.writestr(f"build/{name}", data)
    else:
        for name, data in blobs.items():
            target = out / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    return GeneratedBundle(out, facts.name, layout, project, version, len(files["app"][2]))
