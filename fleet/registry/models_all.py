"""Imports every module that defines tables on `Base`, so that metadata is complete."""

from fleet.firmware import models as firmware_models  # noqa: F401
from fleet.registry import models as models
from fleet.service import models as service_models  # noqa: F401
