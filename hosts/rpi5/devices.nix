# Your appliance: the one file to edit (devices, SSH key, time zone).
#
# One entry per Bluetooth device. After editing, deploy with
#   nixos-rebuild switch --flake .#solarmon --target-host root@<pi>
#
#   id           short name used in MQTT topics and InfluxDB tags (a-z, 0-9, - and _)
#   kind         "litime-mppt" (charge controller) or "jbd-bms" (battery BMS)
#   address      Bluetooth MAC address (find it with `bluetoothctl scan le` on the Pi)
#   name         what people see on the dashboards (optional)
#   interval     seconds between polls (optional; default services.solarmon.interval = 27)
#   auth         jbd-bms only: "auto" (try without, then with the password), "none", "password"
#   passwordFile jbd-bms only: a file ON THE PI holding the BMS password (never put the
#                password itself here: this file ends up in the world-readable Nix store).
#                Create it with:  install -m 600 /dev/stdin /var/lib/solarmon-secrets/jbd-battery1 <<< 'the-password'
#
# This is a plain attribute set (no function, no `lib`) on purpose: the test
# tests/nix/test_render_config.py reads it with a bare nix-instantiate.
{
  # Who may log in over SSH (keys only; there are no passwords). Without a key here
  # the Pi is unreachable over the network: add your public key before building.
  users.users.root.openssh.authorizedKeys.keys = [
    # "ssh-ed25519 AAAA... you@laptop"
  ];

  # time.timeZone = "Europe/Berlin";

  services.solarmon.devices = [
    {
      id = "mppt";
      kind = "litime-mppt";
      address = "C8:47:80:00:00:01";
      name = "LiTime 60A MPPT";
    }
    {
      id = "battery1";
      kind = "jbd-bms";
      address = "A4:C1:38:00:00:02";
      name = "Battery 1";
    }
    {
      id = "battery2";
      kind = "jbd-bms";
      address = "A4:C1:38:00:00:03";
      name = "Battery 2";
      # auth = "password";
      # passwordFile = "/var/lib/solarmon-secrets/jbd-battery2";
    }
  ];
}
