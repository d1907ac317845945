# Simulated devices for the VM tests and the demo VM: `solarmon simulate --ble` serves
# every configured device as a BLE peripheral through a Bumble controller attached to the
# kernel over /dev/vhci, so the real BlueZ and the real collector see them as hardware.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  cfg = config.services.solarmon;
  sim = cfg.simulator;
  rc = import ../../modules/lib/render-config.nix;
  jbdCredentials = map (dev: "${rc.credential.jbdPassword dev.id}:${dev.passwordFile}") (
    lib.filter (dev: dev.passwordFile != null) cfg.devices
  );
in
{
  options.services.solarmon.simulator = {
    enable = lib.mkEnableOption "simulated BLE peripherals for every configured device (VMs only)";
    package = lib.mkOption {
      type = lib.types.package;
      default = pkgs.callPackage ../../pkgs/solarmon.nix { withSim = true; };
      defaultText = lib.literalExpression "pkgs.callPackage ./pkgs/solarmon.nix { withSim = true; }";
      description = "solarmon built with Bumble.";
    };
    faults = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = [ ];
      example = [ "battery1:wrong-password" ];
      description = "Faults to start with (`solarmon simulate --fault DEVICE_ID:MODE`).";
    };
    control = lib.mkOption {
      type = lib.types.str;
      default = "/run/solarmon-simulator/control";
      readOnly = true;
      description = "Control socket (`solarmon simulate --control SOCKET --command 'fault ...'`).";
    };
  };

  config = lib.mkIf (cfg.enable && sim.enable) {
    # /dev/vhci: a virtual HCI controller driven from user space.
    boot.kernelModules = [ "hci_vhci" ];

    # The collector uses hci0, which is the simulator's controller in a VM.
    services.solarmon.package = lib.mkDefault sim.package;

    systemd.services.solarmon-simulator = {
      description = "solarmon simulated BLE devices (Bumble over /dev/vhci)";
      wantedBy = [ "multi-user.target" ];
      # bluetoothd is started by udev (bluetooth.target) once the vhci controller appears.
      before = [
        "bluetooth.service"
        "solarmon-collect.service"
      ];
      serviceConfig = {
        ExecStart = lib.escapeShellArgs (
          [
            (lib.getExe sim.package)
            "simulate"
            "--ble"
            "--config"
            "${cfg.configFiles.simulate}"
            "--control"
            sim.control
          ]
          ++ lib.concatMap (f: [
            "--fault"
            f
          ]) sim.faults
        );
        RuntimeDirectory = "solarmon-simulator";
        LoadCredential = jbdCredentials;
        Restart = "on-failure";
        RestartSec = "2s";
      };
    };
  };
}
