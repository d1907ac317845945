"""The real-broker helper lives in the package (``solarmon demo`` uses it too)."""

from solarmon.sim.broker import Mosquitto, free_port, mosquitto_binary

__all__ = ["Mosquitto", "free_port", "mosquitto_binary"]
