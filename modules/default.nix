# The solarmon appliance as NixOS modules, one concern per file.
# `services.solarmon.enable = true` turns on the data path (BlueZ, mosquitto, InfluxDB 2,
# collector, bridge, bootstrap, Grafana); the kiosk display is a separate switch.
{
  imports = [
    ./solarmon.nix
    ./secrets.nix
    ./bluetooth.nix
    ./mosquitto.nix
    ./influxdb.nix
    ./grafana.nix
    ./kiosk.nix
  ];
}
