# The Raspberry Pi 5 appliance (nixosConfigurations.solarmon, packages.aarch64-linux.sdImage).
#
# flake.nix adds nixos-hardware's raspberry-pi-5 profile (linux-rpi kernel, device-tree
# filter, firmware and config.txt modules) and our modules. Devices, SSH key and time
# zone live in ./devices.nix; everything here is board and image plumbing.
{
  config,
  lib,
  pkgs,
  modulesPath,
  ...
}:

{
  imports = [
    # The SD image (FAT firmware partition + ext4 root, grown on first boot). Not the
    # aarch64 variant: that one also pulls profiles/base.nix (ZFS and installer tools)
    # and a Pi 3/4-only config.txt. nixos-hardware fills the firmware partition.
    (modulesPath + "/installer/sd-card/sd-image.nix")
    ./devices.nix
  ];

  nixpkgs.hostPlatform = "aarch64-linux";
  networking.hostName = lib.mkDefault "solarmon";
  system.stateVersion = "26.05";

  ###### Boot: GPU firmware -> U-Boot -> extlinux.conf (generations, rollback)
  # On the Pi 5, U-Boot boots from the SD card only (not USB or NVMe); for those see
  # docs/nix.md (nvmd/nixos-raspberrypi).
  hardware.raspberry-pi.firmware = {
    uboot.enable = true;
    # Keep config.txt and U-Boot on the firmware partition current on every switch.
    enable = true;
  };
  # sd-image.nix mounts the firmware partition `noauto`; the firmware activation script
  # only writes to a mounted partition, so mount it (still `nofail`).
  fileSystems."/boot/firmware".options = lib.mkForce [
    "nofail"
    "noatime"
  ];
  boot.loader.generic-extlinux-compatible.configurationLimit = 10;

  sdImage = {
    # nixos-hardware copies all vendor firmware, every DTB and overlay and U-Boot: more
    # than sd-image.nix's 30 MiB default. Raspberry Pi OS uses 512 MiB.
    firmwareSize = 256;
    # /boot (kernel, initrd, extlinux.conf) lives on the ext4 root partition.
    populateRootCommands = ''
      mkdir -p ./files/boot
      ${config.boot.loader.generic-extlinux-compatible.populateCmd} -c ${config.system.build.toplevel} -d ./files/boot
    '';
  };

  ###### SD-image pitfalls with the vendor kernel
  # sd-image.nix turns on hardware.enableAllHardware, whose initrd module list (SATA,
  # VMware, Rockchip, ...) is partly missing from linux-rpi's bcm2712 config.
  hardware.enableAllHardware = lib.mkForce false;
  # ...and any other module a generic NixOS default names but linux-rpi lacks must not
  # fail the initrd build (nixpkgs#154163).
  nixpkgs.overlays = [
    (_final: prev: {
      makeModulesClosure = args: prev.makeModulesClosure (args // { allowMissing = true; });
    })
  ];
  # No ZFS: it would have to build against linux-rpi and is not needed.
  boot.supportedFilesystems.zfs = lib.mkForce false;

  ###### The 7" DSI touch display (800x480) in config.txt
  hardware.raspberry-pi.configtxt = {
    # Name the panel explicitly instead of relying on auto-detection, which misses
    # some panels (raspberrypi/linux#6341).
    settings.all.display_auto_detect = false;
    # Defining `all` replaces nixos-hardware's default list, so KMS is listed again
    # (first: the DSI overlay builds on it).
    deviceTreeOverlays.all = [
      { vc4-kms-v3d = { }; }
      {
        vc4-kms-dsi-7inch = {
          # Cable on the CAM/DISP 0 connector instead of 1: dsi0 = true.
          # Panel mounted upside down: invx = true; invy = true; (touch follows the panel)
        };
      }
    ];
  };

  services.solarmon = {
    enable = true;
    kiosk = {
      enable = true;
      output = "DSI-1";
    };
  };

  ###### Remote access: SSH with keys only
  services.openssh = {
    enable = true;
    settings = {
      PasswordAuthentication = false;
      KbdInteractiveAuthentication = false;
      PermitRootLogin = "prohibit-password";
    };
  };
  # root has no password (locked) and the kiosk user has no shell login: SSH keys are
  # the only way in. (users.mutableUsers = false would refuse to evaluate the example
  # config while its key list is still empty.)
  warnings = lib.optional (config.users.users.root.openssh.authorizedKeys.keys == [ ]) ''
    hosts/rpi5/devices.nix: users.users.root.openssh.authorizedKeys.keys is empty, so nobody can
    log in to the Pi (SSH takes keys only). Add your public key before building the image.
  '';
  nix.settings.experimental-features = [
    "nix-command"
    "flakes"
  ];

  ###### Time: NTP when there is a network, the Pi 5's RTC when there is none
  services.timesyncd.enable = true;
  # Take the time from the RTC (kept by its backup battery) when it is plausible and ahead
  # of the system clock. Without a battery the RTC restarts at 1970 after a power cut; then
  # timesyncd's saved clock (/var/lib/systemd/timesync/clock) is the best there is.
  # Runs early at boot if /dev/rtc0 already exists, and again when udev sees the RTC.
  systemd.services.solarmon-rtc-restore = {
    description = "Set the system clock from the RTC";
    wantedBy = [ "sysinit.target" ];
    before = [ "time-set.target" ];
    wants = [ "time-set.target" ];
    unitConfig = {
      DefaultDependencies = false;
      ConditionPathExists = "/dev/rtc0";
    };
    path = [
      pkgs.util-linux
      pkgs.coreutils
    ];
    serviceConfig.Type = "oneshot";
    script = ''
      now=$(date +%s)
      rtc=$(date -d "$(hwclock --get --utc)" +%s) || exit 0
      if [ "$rtc" -gt 1735689600 ] && [ "$rtc" -gt "$now" ]; then
        hwclock --hctosys --utc
        echo "system clock set from the RTC"
      fi
    '';
  };
  services.udev.extraRules = ''
    SUBSYSTEM=="rtc", KERNEL=="rtc0", TAG+="systemd", ENV{SYSTEMD_WANTS}+="solarmon-rtc-restore.service"
  '';
  # Write NTP time back to the RTC once a day, if NTP is synchronized.
  systemd.services.solarmon-rtc-save = {
    description = "Save NTP time to the RTC";
    startAt = "daily";
    unitConfig.ConditionPathExists = "/dev/rtc0";
    serviceConfig.Type = "oneshot";
    script = ''
      if [ "$(${pkgs.systemd}/bin/timedatectl show -p NTPSynchronized --value)" = yes ]; then
        ${pkgs.util-linux}/bin/hwclock --systohc --utc
      fi
    '';
  };

  ###### Gentle on the SD card
  fileSystems."/".options = [ "noatime" ];
  boot.tmp.useTmpfs = true;
  services.journald.extraConfig = ''
    SystemMaxUse=100M
    SystemMaxFileSize=16M
    MaxRetentionSec=1month
    SyncIntervalSec=5m
  '';
  # InfluxDB keeps fsyncing every acknowledged write (no storage-wal-fsync-delay): the
  # bridge drops a point from its queue once InfluxDB acknowledged it, so an unsynced
  # acknowledgement could lose data on a power cut. At ~3 devices / 27 s that is a few
  # small writes a minute. Grafana's SQLite only changes on logins and UI edits.
  services.grafana.settings.database.wal = true;
}
