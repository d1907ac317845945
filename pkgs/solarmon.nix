# The solarmon Python application, built from pyproject.toml with nixpkgs' Python set.
#
#   withSim = true  adds Bumble for `solarmon simulate --ble` (VM tests, demo VM).
#                   pyproject pins bumble==0.0.236 because solarmon/sim/ble.py overrides
#                   Bumble internals verified against that release, so nixpkgs' Bumble
#                   is rebuilt at exactly 0.0.236 from the PyPI sdist.
{
  lib,
  python3Packages,
  mosquitto,
  withSim ? false,
}:

let
  root = ../.;

  bumble = python3Packages.bumble.overridePythonAttrs (_old: {
    version = "0.0.236";
    src = python3Packages.fetchPypi {
      pname = "bumble";
      version = "0.0.236";
      # sha256 of bumble-0.0.236.tar.gz as served by PyPI.
      hash = "sha256-zqn72Lip/3hWe8SpezXVTHL88QEJR2okUY0BOU+72YI=";
    };
    # Bumble's own test suite is not ours to run (and needs more than the sdist has).
    doCheck = false;
  });
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
