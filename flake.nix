{
  description = "solarmon: off-grid solar monitor appliance (LiTime MPPT + JBD BMS over BLE -> MQTT -> InfluxDB 2 -> Grafana) for the Raspberry Pi 5";

  inputs = {
    # NixOS release channel 26.05 (the channel tarball: only commits that passed Hydra).
    nixpkgs.url = "https://channels.nixos.org/nixos-26.05/nixexprs.tar.xz";
    nixos-hardware.url = "github:NixOS/nixos-hardware";
    nixos-hardware.inputs.nixpkgs.follows = "nixpkgs";
  };

  outputs =
    {
      self,
      nixpkgs,
      nixos-hardware,
    }:
    let
      inherit (nixpkgs) lib;
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f system nixpkgs.legacyPackages.${system});
      rc = import ./modules/lib/render-config.nix;
    in
    {
      nixosModules.default = ./modules;

      packages = lib.recursiveUpdate
        (forAllSystems (
          system: pkgs: rec {
            solarmon = pkgs.callPackage ./pkgs/solarmon.nix { };
            solarmon-sim = pkgs.callPackage ./pkgs/solarmon.nix { withSim = true; };
            default = solarmon;
          }
        ))
        {
          # Flash with: zstdcat result/sd-image/*.img.zst | sudo dd of=/dev/sdX bs=4M conv=fsync
          aarch64-linux.sdImage = self.nixosConfigurations.solarmon.config.system.build.sdImage;
        };

      nixosConfigurations = {
        # The Raspberry Pi 5 appliance: nixos-rebuild switch --flake .#solarmon --target-host root@<pi>
        solarmon = lib.nixosSystem {
          modules = [
            nixos-hardware.nixosModules.raspberry-pi-5
            self.nixosModules.default
            ./hosts/rpi5
          ];
        };
        # The same appliance as an x86_64 VM with simulated devices (nix run .#demo-vm).
        solarmon-vm = lib.nixosSystem {
          modules = [
            self.nixosModules.default
            ./hosts/vm
          ];
        };
      };

      apps.x86_64-linux.demo-vm =
        let
          pkgs = nixpkgs.legacyPackages.x86_64-linux;
          vm = self.nixosConfigurations.solarmon-vm.config.system.build.vm;
          hostName = self.nixosConfigurations.solarmon-vm.config.networking.hostName;
          run = pkgs.writeShellScript "solarmon-demo-vm" ''
            echo "solarmon demo VM: simulated devices, Grafana on http://localhost:3000 once booted."
            echo "The QEMU window shows the 800x480 kiosk. Disk image: ./${hostName}.qcow2 (delete to start fresh)."
            exec ${vm}/bin/run-${hostName}-vm "$@"
          '';
        in
        {
          type = "app";
          program = "${run}";
          meta.description = "Boot the appliance in a VM with simulated devices; Grafana on localhost:3000";
        };

      checks.x86_64-linux =
        let
          pkgs = nixpkgs.legacyPackages.x86_64-linux;
          solarmon = self.packages.x86_64-linux.solarmon;
        in
        {
          # Unit and integration tests of the app run in the package's check phase.
          inherit solarmon;
          # The whole appliance in a VM (simulated BLE -> ... -> Grafana, kiosk screenshot).
          appliance = pkgs.testers.runNixOSTest ./tests/nixos/appliance.nix;
          # A JBD BMS refusing the password: clear log line, the rest keeps flowing.
          jbd-wrong-password = pkgs.testers.runNixOSTest ./tests/nixos/jbd-wrong-password.nix;
          # The Nix <-> Python contract: each rendered config file passes check-config.
          render-config =
            pkgs.runCommand "solarmon-render-config-check"
              {
                nativeBuildInputs = [ solarmon ];
                files = map (
                  role:
                  pkgs.writeText "solarmon-${role}.json" (
                    builtins.toJSON (rc.render {
                      inherit role;
                      values.devices = (import ./hosts/rpi5/devices.nix).services.solarmon.devices;
                    })
                  )
                ) rc.roles;
              }
              ''
                for f in $files; do
                  solarmon check-config --no-files "$f"
                done
                touch $out
              '';
          # The demo VM's system builds. (`nix flake check` also evaluates the Pi 5 host;
          # building it needs an aarch64 builder: `nix build .#sdImage`.)
          host-vm = self.nixosConfigurations.solarmon-vm.config.system.build.toplevel;
        };

      devShells = forAllSystems (
        system: pkgs: {
          default = pkgs.mkShell {
            packages = [
              (pkgs.python3.withPackages (
                ps:
                self.packages.${system}.solarmon-sim.propagatedBuildInputs
                ++ [
                  ps.pytest
                  ps.pytest-asyncio
                  ps.hypothesis
                ]
              ))
              pkgs.ruff
              pkgs.mosquitto
              pkgs.influxdb2-cli
              pkgs.nixfmt
              pkgs.nodejs
            ];
            shellHook = ''
              export PYTHONPATH="$PWD/src''${PYTHONPATH:+:$PYTHONPATH}"
              # tests/nix/test_module_eval.py evaluates modules/ with the real module system.
              export SOLARMON_NIXPKGS_LIB=${nixpkgs}/lib
            '';
          };
        }
      );

      formatter = forAllSystems (_system: pkgs: pkgs.nixfmt);
    };
}
