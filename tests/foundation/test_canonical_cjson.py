"""Canonical JSON against a real cJSON: the node is the judge of every signature.

The node parses a command with cJSON and signs what `cJSON_PrintUnformatted` prints back, so
every number and string fleet signs must print as Debian's libcjson (1.7.x, the cJSON the
ESP-IDF `json` component ships) prints it. libcjson is loaded with ctypes; `.ci/run` installs
it (`libcjson1`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.protocol import ProtocolError, build_command, canonical_json, verify_command

KEY = "0123456789abcdef" * 4


class CJson:
    """The three calls of libcjson that the firmware's signature check rests on."""

    def __init__(self) -> None:
        name = ctypes.util.find_library("cjson") or "libcjson.so.1"
        lib = ctypes.CDLL(name)
        lib.cJSON_Parse.argtypes = [ctypes.c_char_p]
        lib.cJSON_Parse.restype = ctypes.c_void_p
        lib.cJSON_PrintUnformatted.argtypes = [ctypes.c_void_p]
        lib.cJSON_PrintUnformatted.restype = ctypes.c_void_p
        lib.cJSON_Delete.argtypes = [ctypes.c_void_p]
        lib.cJSON_free.argtypes = [ctypes.c_void_p]
        self.lib = lib

    def reprint(self, text: str) -> str | None:
        """What cJSON prints after parsing `text` (None: cJSON cannot parse it)."""
        item = self.lib.cJSON_Parse(text.encode("utf-8"))
        if not item:
            return None
        try:
            out = self.lib.cJSON_PrintUnformatted(item)
            try:
                return ctypes.string_at(out).decode("utf-8")
            finally:
                self.lib.cJSON_free(out)
        finally:
            self.lib.cJSON_Delete(item)


@pytest.fixture(scope="module")
def cjson() -> CJson:
    return CJson()


NUMBERS = [
    0,
    1,
    -1,
    2**31 - 1,
    2**31,
    -(2**31),
    -(2**31) - 1,
    10**15,
    -(10**15),
    10**16,
    2**53,
    2**53 + 1,
    2**63,
    123456789012345678,
    0.0,
    -0.0,
    0.1,
    0.30000000000000004,
    1 / 3,
    1e15,
    -1e15,
    1e16,
    9.2e18,
    1e300,
    5e-324,
    1.7976931348623157e308,
    1e-7,
    21.5,
    1.0000000000000003e-05,
    2147483647.5,
    -2147483648.5,
]


@pytest.mark.parametrize("value", NUMBERS, ids=repr)
def test_numbers_print_as_cjson_prints_them(cjson: CJson, value: float) -> None:
    """Integers and doubles, at every boundary cJSON has, print byte for byte as on the node."""
    assert cjson.reprint(f"[{json.dumps(value)}]") == canonical_json([value])


@settings(max_examples=400, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**80), 2**80))
def test_any_number_prints_as_cjson(value: float) -> None:
    """Property: whatever finite number a command carries, fleet's text is cJSON's text."""
    assert CJson().reprint(f"[{json.dumps(value)}]") == canonical_json([value])


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=40))
def test_strings_print_as_cjson(value: str) -> None:
    """Property: strings (escapes, control characters, '/', UTF-8) print as cJSON prints them."""
    assert CJson().reprint(json.dumps([value])) == canonical_json([value])


def test_a_signed_command_with_large_numbers_verifies_on_cjson_text(cjson: CJson) -> None:
    """The HMAC fleet sends covers exactly the text the node rebuilds (1e15, 2^53+1, 0.1+0.2)."""
    params = {"big": 10**15, "huge": 2**53 + 1, "sum": 0.1 + 0.2, "neg": -1e15, "n": [1, 2.5]}
    cmd = build_command(KEY, "dose", params, cmd_id="c-num", ts=1700000000)
    published = json.dumps(cmd, separators=(",", ":"))
    body = {k: v for k, v in json.loads(published).items() if k != "sig"}
    node_text = cjson.reprint(json.dumps(body, sort_keys=True))
    assert node_text == canonical_json(body)
    verify_command(KEY, json.loads(published), now=1700000000)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_in_params_are_refused(cjson: CJson, bad: float) -> None:
    """NaN/Infinity would go out as literals cJSON cannot parse: refused, naming the param."""
    assert cjson.reprint(json.dumps({"x": bad})) is None  # what the node would do with it
    with pytest.raises(ProtocolError) as info:
        build_command(KEY, "dose", {"pump": {"ml": bad}}, cmd_id="c-nan", ts=1700000000)
    assert "params.pump.ml" in str(info.value)


def test_nul_in_a_string_param_is_refused(cjson: CJson) -> None:
    """cJSON's C strings end at NUL, so the node would sign a shorter text: refused."""
    assert '["a"]' == cjson.reprint(json.dumps(["a\x00b"]))
    with pytest.raises(ProtocolError) as info:
        build_command(KEY, "note", {"text": "a\x00b"}, cmd_id="c-nul", ts=1700000000)
    assert "params.text" in str(info.value)
