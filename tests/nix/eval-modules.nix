# Evaluate modules/ with the real nixpkgs module system (nixpkgs' `lib`, pure Nix) but
# stubbed nixpkgs options and packages: catches option typos, type errors and failing
# assertions without a full nixpkgs. Used by tests/nix/test_module_eval.py when
# SOLARMON_NIXPKGS_LIB points to a nixpkgs `lib` directory (the dev shell sets it).
#
#   nix-instantiate --eval --strict --json tests/nix/eval-modules.nix \
#     --arg lib 'import /path/to/nixpkgs/lib' --arg modules '[ { services.solarmon.enable = true; } ]'
{
  lib,
  modules ? [ ],
}:

let
  inherit (lib) mkOption types;

  fakePackage = name: {
    type = "derivation";
    inherit name;
    pname = name;
    outPath = "/nix/store/00000000000000000000000000000000-${name}";
    drvPath = "/nix/store/00000000000000000000000000000000-${name}.drv";
    meta.mainProgram = name;
  };

  pkgs = {
    formats.json = _: {
      type = types.attrsOf types.anything;
      # A fake store path that changes with the content.
      generate = name: value: "/nix/store/${builtins.hashString "sha1" (builtins.toJSON value)}-${name}";
    };
    callPackage =
      _path: args: fakePackage (if args.withSim or false then "solarmon-sim" else "solarmon");
    writeShellScript = name: text: "/nix/store/${builtins.hashString "sha1" text}-${name}";
    writeShellScriptBin = name: text: fakePackage name // { inherit text; };
    writeTextDir = name: _text: fakePackage "textdir";
    writeText = name: text: "/nix/store/${builtins.hashString "sha1" text}-${name}";
  }
  // lib.genAttrs [
    "coreutils"
    "curl"
    "wlr-randr"
    "chromium"
    "util-linux"
    "systemd"
  ] fakePackage;

  # The nixpkgs options our modules set, as free-form stand-ins.
  anything = mkOption {
    type = types.attrsOf types.anything;
    default = { };
  };
  stubs = {
    options = {
      assertions = mkOption {
        type = types.listOf types.unspecified;
        default = [ ];
      };
      warnings = mkOption {
        type = types.listOf types.str;
        default = [ ];
      };
      services.mosquitto = anything;
      services.influxdb2 = anything;
      services.grafana = anything;
      services.cage = anything;
      services.dbus.packages = mkOption {
        type = types.listOf types.anything;
        default = [ ];
      };
      hardware.bluetooth = anything;
      security.polkit = anything;
      users.users = mkOption {
        type = types.attrsOf (types.attrsOf types.anything);
        default = { };
      };
      users.groups = mkOption {
        type = types.attrsOf (types.attrsOf types.anything);
        default = { };
      };
      systemd.services = mkOption {
        type = types.attrsOf (types.attrsOf types.anything);
        default = { };
      };
      environment.systemPackages = mkOption {
        type = types.listOf types.anything;
        default = [ ];
      };
      environment.etc = anything;
      networking.firewall.allowedTCPPorts = mkOption {
        type = types.listOf types.port;
        default = [ ];
      };
      fonts.enableDefaultPackages = mkOption {
        type = types.bool;
        default = false;
      };
      boot.kernelParams = mkOption {
        type = types.listOf types.str;
        default = [ ];
      };
      boot.kernelModules = mkOption {
        type = types.listOf types.str;
        default = [ ];
      };
    };
  };

  eval = lib.evalModules {
    modules = [
      stubs
      ../../modules
      { _module.args.pkgs = pkgs; }
    ]
    ++ modules;
  };
  cfg = eval.config;
in
{
  failedAssertions = map (a: a.message) (lib.filter (a: !a.assertion) cfg.assertions);
  inherit (cfg) warnings;
  units = cfg.systemd.services;
  inherit (cfg.services)
    mosquitto
    influxdb2
    grafana
    cage
    ;
  bluetooth = cfg.hardware.bluetooth;
  polkit = cfg.security.polkit;
  systemPackages = map (p: { inherit (p) name; text = p.text or null; }) cfg.environment.systemPackages;
  groups = cfg.users.groups;
  users = cfg.users.users;
  firewall = cfg.networking.firewall.allowedTCPPorts;
  configFiles = cfg.services.solarmon.configFiles;
}
