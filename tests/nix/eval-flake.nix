# Evaluate flake.nix's outputs with nixpkgs' `lib` and a stub package set: catches typos
# and wrong wiring in flake.nix (output names, the render-config check, the demo-vm app)
# without nixpkgs. Used by tests/nix/test_module_eval.py.
{ lib }:

let
  flake = import ../../flake.nix;
  fake = name: {
    type = "derivation";
    inherit name;
    outPath = "/nix/store/00000000000000000000000000000000-${name}";
    drvPath = "/nix/store/00000000000000000000000000000000-${name}.drv";
    propagatedBuildInputs = [ ];
    meta.mainProgram = name;
  };
  pkgsFor = system: {
    inherit system;
    callPackage =
      path: args:
      assert builtins.pathExists path;
      fake ("solarmon" + lib.optionalString (args.withSim or false) "-sim");
    writeShellScript = name: text: "/nix/store/${builtins.hashString "sha1" text}-${name}";
    writeText = name: text: "/nix/store/${builtins.hashString "sha1" text}-${name}";
    runCommand =
      name: env: script:
      fake name // { inherit env script; };
    testers.runNixOSTest =
      test:
      assert builtins.pathExists test;
      fake "vm-test-${baseNameOf (toString test)}";
    mkShell = args: fake "shell" // { inherit (args) shellHook; };
    python3.withPackages = f: fake "python3-env";
    ruff = fake "ruff";
    mosquitto = fake "mosquitto";
    influxdb2-cli = fake "influx";
    nixfmt = fake "nixfmt";
    nodejs = fake "node";
  };
  nixosSystem =
    { modules }:
    let
      isVm = builtins.elem ../../hosts/vm modules;
    in
    assert builtins.all (m: builtins.isAttrs m || builtins.pathExists m) modules;
    {
      config = {
        networking.hostName = if isVm then "solarmon-demo" else "solarmon";
        system.build = {
          sdImage = fake "sd-image";
          vm = fake "vm";
          toplevel = fake "toplevel";
        };
      };
    };
  nixpkgs = {
    outPath = "/nix/store/00000000000000000000000000000000-nixpkgs";
    lib = lib // {
      inherit nixosSystem;
    };
    legacyPackages = lib.genAttrs [ "x86_64-linux" "aarch64-linux" ] pkgsFor;
  };
  nixos-hardware.nixosModules.raspberry-pi-5 = { };
  self = flake.outputs {
    inherit self nixpkgs nixos-hardware;
  };
in
{
  inputs = builtins.attrNames flake.inputs;
  packages = lib.mapAttrs (_: builtins.attrNames) self.packages;
  nixosConfigurations = builtins.attrNames self.nixosConfigurations;
  nixosModules = builtins.attrNames self.nixosModules;
  checks = builtins.attrNames self.checks.x86_64-linux;
  renderConfigFiles = map (f: f) self.checks.x86_64-linux.render-config.env.files;
  apps = lib.mapAttrs (_: a: { inherit (a) type program; }) self.apps.x86_64-linux;
  devShells = lib.mapAttrs (_: builtins.attrNames) self.devShells;
  formatter = builtins.attrNames self.formatter;
  sdImage = self.packages.aarch64-linux.sdImage.name;
}
