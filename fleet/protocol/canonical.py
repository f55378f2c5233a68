"""Canonical JSON as the hydro 2.0 firmware and backend compute it before signing.

Keys sorted, array order kept, no whitespace, integers as integers, integral floats as
integers, other floats `%.15g` (or `%.17g` when that does not round-trip), NaN/Inf as
null, strings UTF-8 with `/` not escaped.
"""

from __future__ import annotations

import json
import math
from typing import Any


def _float(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        return "null"
    if value.is_integer() and abs(value) < 2**63:
        return str(int(value))
    text = f"{value:.15g}"
    if float(text) != value:
        text = f"{value:.17g}"
    return text


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
        out.append(str(value))
    elif isinstance(value, float):
        out.append(_float(value))
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
