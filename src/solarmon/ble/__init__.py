"""Bluetooth LE through bleak and BlueZ: links, adapter recovery, scanning.

Only this package (and the CLI that calls it) imports bleak.
"""
