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
#   passkeyFile  jbd-bms of the passkey generation only: a file ON THE PI holding the six-digit
#                BLE passkey, used once by `solarmon-pair <id>` (run as root on the Pi; it stops
#                the collector while pairing and starts it again). Without it `solarmon-pair`
#                uses `--passkey N` or the factory default 123456. After pairing set auth = "none".
#
# Alerts, load switching and the rest are further down (commented out); see docs/nix.md
# "Alerts, push, load rules, pairing". Keys inside `rules`, `loadRules`, `bank`, `energy`,
# `clock` and the `settings` attributes are spelled as in the app (snake_case); a typo makes
# the collector refuse to start, naming the key.
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
      # passkeyFile = "/var/lib/solarmon-secrets/jbd-battery2.passkey";
    }
  ];

  # Alerts run in the collector and work without any network. Without `rules` the built-in
  # set applies (low bank SOC, cell delta, cell/pack voltages, temperatures, protection
  # flags, controller alarm); a list replaces it entirely.
  # services.solarmon.alerts.rules = [
  #   { name = "low-soc"; field = "soc"; device = "bank"; below = 25; hysteresis = 5; delay = 60; }
  #   { name = "hot"; field = "temperature_*"; above = 50; hysteresis = 5; delay = 60; }
  # ];
  # services.solarmon.alerts.settings.silent_after = 900;   # s without a sample: "silent"
  #
  # Push every raise/clear to your phone with ntfy (queued on the Pi while offline). The
  # topic name is the only protection on ntfy.sh: pick a long random one, or use your own
  # server with a token. Setting a push url lets the collector reach the network.
  # services.solarmon.alerts.push = {
  #   url = "https://ntfy.sh/cabin-solar-6f3k9q2x";
  #   # tokenFile = "/var/lib/solarmon-secrets/ntfy.token";   # file ON THE PI, never the token here
  # };

  # Switch a LiTime controller's load output by bank SOC (and/or battery voltage, schedule).
  # services.solarmon.loadRules = [
  #   { device = "mppt"; off_below_soc = 30; on_above_soc = 50; on_from = "17:00"; on_until = "23:30"; }
  # ];

  # services.solarmon.bank.packs = [ "battery1" "battery2" ];   # default: every jbd-bms
  # services.solarmon.collector.restartBluetoothd = true;       # last recovery step, see docs/nix.md
}
