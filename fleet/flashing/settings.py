"""The `[flashing]` settings section."""

from __future__ import annotations

import pydantic


class FlashingSettings(pydantic.BaseModel):
    """How fleet talks to a board over USB."""

    model_config = pydantic.ConfigDict(extra="forbid")

    baud: int = 460800  # after the stub is up; 921600 works on most CP210x/CH340 boards
    connect_attempts: int = 3
