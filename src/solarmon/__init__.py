"""solarmon: off-grid solar monitor (LiTime MPPT + JBD BMS over BLE -> MQTT -> InfluxDB -> Grafana)."""

import logging

from .errors import SolarmonError

__all__ = ["SolarmonError", "__version__"]
__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
