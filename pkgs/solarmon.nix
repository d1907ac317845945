# The solarmon Python application, built from pyproject.toml with nixpkgs' Python set.
#
#   withSim = true  adds Bumble for `solarmon simulate --ble` (VM tests, demo VM).
#                   pyproject pins bumble==0.0.236 (the app patches one Bumble internal,
#                   see solarmon/sim/ble.py); here nixpkgs' Bumble is used with the pin
#                   relaxed, so the simulator runs with whatever version nixpkgs ships.
{
  lib,
  python3Packages,
  mosquitto,
  withSim ? false,
}:

let
  root = ../.;
  pyproject = lib.importTOML ../pyproject.toml;
  fs = lib.fileset;
in
python3Packages.buildPythonApplication {
  pname = "solarmon" + lib.optionalString withSim "-sim";
  inherit (pyproject.project) version;
  pyproject = true;

  # Only what the build and the unit tests need: a change to hosts/ or modules/ does
  # not rebuild the package.
  src = fs.toSource {
    inherit root;
    fileset = fs.unions [
      ../pyproject.toml
      (fs.maybeMissing ../README.md)
      (fs.maybeMissing ../LICENSE)
      (fs.difference ../src (fs.maybeMissing ../src/solarmon.egg-info))
      (fs.difference ../tests (fs.maybeMissing ../tests/fluxcheck/node_modules))
    ];
  };

  build-system = [ python3Packages.setuptools ];

  dependencies =
    with python3Packages;
    [
      bleak
      bleak-retry-connector
      dbus-fast
      influxdb-client
      paho-mqtt
      pydantic
      rich
    ]
    ++ lib.optionals withSim [ bumble ];

  # The `sim` extra pins Bumble exactly; nixpkgs' Bumble may be another version.
  pythonRelaxDeps = [ "bumble" ];

  nativeCheckInputs = with python3Packages; [
    pytestCheckHook
    pytest-asyncio
    hypothesis
    mosquitto # the broker fixture starts a real one
  ];

  # Tiers that need what a Nix build sandbox lacks: nix itself, qemu, node + the Flux LSP.
  disabledTestMarks = [
    "nix"
    "blevm"
    "flux"
  ];

  pythonImportsCheck = [
    "solarmon"
    "solarmon.config"
  ];

  meta = {
    description = "Off-grid solar monitor: LiTime MPPT and JBD BMS over BLE -> MQTT -> InfluxDB 2 -> Grafana";
    license = lib.licenses.mit;
    mainProgram = "solarmon";
    platforms = lib.platforms.linux;
  };
}
