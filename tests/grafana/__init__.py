"""Tests of the generated Grafana dashboards and provisioning files."""
