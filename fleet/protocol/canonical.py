"""Canonical JSON exactly as the hydro 2.0 firmware prints it before checking a signature.

The node parses a command with cJSON, sorts the keys and re-prints it with
`cJSON_PrintUnformatted`; that text is what the HMAC covers. So: keys sorted, array order
kept, no whitespace, strings UTF-8 with `/` not escaped, and numbers as cJSON's
`print_number` writes them. On the node every number is a C double (an integer beyond 2^53
arrives rounded); it prints as an integer only when it equals its int32-saturated
`valueint`, otherwise `%1.15g`, and `%1.17g` when the `%1.15g` text does not read back
within DBL_EPSILON (so 1e15 prints `1e+15`, 0.30000000000000004 prints `0.3`, -0.0 prints
`-0`); NaN and Infinity print `null`. A string holding NUL cannot reach the node intact (C
strings end there): `build_command` refuses it. tests/foundation/test_canonical_cjson.py
checks all of it against Debian's libcjson.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

_INT_MAX = 2**31 - 1
_INT_MIN = -(2**31)
_EPSILON = sys.float_info.epsilon


def _valueint(d: float) -> int:
    """cJSON's `valueint`: the double saturated to int32, else truncated toward zero."""
    if d >= _INT_MAX:
        return _INT_MAX
    if d <= _INT_MIN:
        return _INT_MIN
    return int(d)


def _reads_back(text: str, d: float) -> bool:
    """cJSON's `compare_double`: equal within DBL_EPSILON of the larger magnitude."""
    test = float(text)
    return abs(test - d) <= max(abs(test), abs(d)) * _EPSILON


def _number(d: float) -> str:
    if math.isnan(d) or math.isinf(d):
        return "null"
    whole = _valueint(d)
    if d == float(whole) and not (d == 0 and math.copysign(1.0, d) < 0):
        return str(whole)  # libcjson 1.7.15 prints -0.0 through %g: "-0"
    text = "%1.15g" % d  # noqa: UP031 - the C format, on purpose
    if not _reads_back(text, d):
        text = "%1.17g" % d  # noqa: UP031
    return text


def _int(value: int) -> str:
    try:
        d = float(value)  # what strtod gives the node: correctly rounded to a double
    except OverflowError:
        raise ValueError(f"integer {value} is beyond what a double holds") from None
    return _number(d)


def _string(value: str) -> str:
    # json.dumps never escapes '/', and ensure_ascii=False keeps UTF-8 as is.
    return json.dumps(value, ensure_ascii=False)


def _encode(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(_int(value))
    elif isinstance(value, float):
        out.append(_number(value))
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, dict):
        out.append("{")
        for i, key in enumerate(sorted(value, key=str)):
            if i:
                out.append(",")
            out.append(_string(str(key)))
            out.append(":")
            _encode(value[key], out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out)
        out.append("]")
    else:
        raise TypeError(f"cannot put {type(value).__name__} into canonical JSON")


def canonical_json(value: Any) -> str:
    """The canonical text of `value` (see module docstring)."""
    out: list[str] = []
    _encode(value, out)
    return "".join(out)
