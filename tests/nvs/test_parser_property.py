"""Whatever valid entries go into the builder, our parser reads the same values back."""

from __future__ import annotations

import base64

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleet.nvs import format as fmt
from fleet.nvs import xts
from fleet.nvs.builder import NvsEntry, build_partition
from fleet.nvs.parser import parse_partition

_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=15)


@st.composite
def _entry(draw: st.DrawFn, namespace: str, key: str) -> tuple[NvsEntry, object]:
    enc = draw(st.sampled_from([*fmt.INT_RANGES, "string", "binary", "hex2bin", "base64"]))
    if enc in fmt.INT_RANGES:
        lo, hi = fmt.INT_RANGES[enc]
        value = draw(st.integers(lo, hi))
        return NvsEntry(namespace, key, enc, value), value
    if enc == "string":
        text = draw(
            st.text(st.characters(blacklist_characters="\x00", codec="utf-8"), max_size=300)
        )
        return NvsEntry(namespace, key, enc, text), text
    blob = draw(st.binary(max_size=5000))
    if enc == "hex2bin":
        return NvsEntry(namespace, key, enc, blob.hex()), blob
    if enc == "base64":
        return NvsEntry(namespace, key, enc, base64.b64encode(blob).decode()), blob
    return NvsEntry(namespace, key, enc, blob), blob


@st.composite
def _partitions(draw: st.DrawFn) -> tuple[list[NvsEntry], dict[str, dict[str, object]]]:
    namespaces = draw(st.lists(_names, min_size=1, max_size=3, unique=True))
    entries: list[NvsEntry] = []
    expected: dict[str, dict[str, object]] = {}
    for ns in namespaces:
        for key in draw(st.lists(_names, min_size=1, max_size=6, unique=True)):
            entry, value = draw(_entry(ns, key))
            entries.append(entry)
            expected.setdefault(ns, {})[key] = value
    return entries, expected


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_partitions(), st.booleans())
def test_any_valid_entries_round_trip(case, encrypt):
    """Random namespaces, keys and values of every encoding (plain or XTS) parse back exactly."""
    entries, expected = case
    key = xts.generate_key() if encrypt else None
    part = parse_partition(build_partition(entries, size=0x20000, key=key), key)
    assert expected == part.as_dict()
    assert [] == part.problems


def test_version_1_image_round_trips():
    """A format-1 image from our builder (single-page blobs) parses back."""
    entries = [NvsEntry("ns", "blob", "binary", bytes(1900)), NvsEntry("ns", "n", "i64", -1)]
    part = parse_partition(build_partition(entries, version=1))
    assert (1, {"ns": {"blob": bytes(1900), "n": -1}}) == (part.version, part.as_dict())
