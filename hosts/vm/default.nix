# x86_64 VM of the whole appliance with simulated devices: `nix run .#demo-vm`.
# Grafana is forwarded to the host's localhost:3000; the QEMU window shows the kiosk.
{
  lib,
  modulesPath,
  ...
}:

{
  imports = [
    (modulesPath + "/virtualisation/qemu-vm.nix")
    ./simulator.nix
    ../rpi5/devices.nix
  ];

  nixpkgs.hostPlatform = lib.mkDefault "x86_64-linux";
  networking.hostName = "solarmon-demo";
  system.stateVersion = "26.05";

  services.solarmon = {
    enable = true;
    simulator.enable = true;
    kiosk = {
      enable = true;
      # No GPU in the VM: software rendering in cage and the browser.
      environment.WLR_RENDERER = "pixman";
      extraBrowserFlags = [ "--disable-gpu" ];
      output = "Virtual-1";
    };
  };

  virtualisation = {
    memorySize = 3072;
    cores = 2;
    diskSize = 4096;
    graphics = true;
    # The size of the 7" panel, so the kiosk looks as it will on the Pi.
    resolution = {
      x = 800;
      y = 480;
    };
    forwardPorts = [
      {
        from = "host";
        host.address = "127.0.0.1";
        host.port = 3000;
        guest.port = 3000;
      }
    ];
  };

  # Demo only: root can log in on the serial console without a password.
  users.users.root.initialHashedPassword = "";
}
