# The VM node shared by the NixOS tests: the whole appliance from modules/, the example
# host's device list, and simulated peripherals instead of hardware.
{ pkgs, ... }:

{
  imports = [
    ../../modules
    ../../hosts/vm/simulator.nix
    ../../hosts/rpi5/devices.nix
  ];

  services.solarmon = {
    enable = true;
    simulator.enable = true;
    # Poll faster than the default 27 s so the tests see data sooner.
    interval = 10;
  };

  virtualisation = {
    memorySize = 3072;
    cores = 2;
    diskSize = 4096;
  };

  environment.systemPackages = [
    pkgs.mosquitto # mosquitto_sub
    pkgs.influxdb2-cli # influx query
    pkgs.curl
  ];
}
