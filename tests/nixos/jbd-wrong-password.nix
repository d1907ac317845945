# A JBD BMS that refuses the configured password: the collector says so clearly in the
# journal, marks that battery offline, and the other devices keep flowing.
{ pkgs, lib, ... }:

{
  name = "solarmon-jbd-wrong-password";

  nodes.machine =
    { ... }:
    {
      imports = [ ./common-node.nix ];

      services.solarmon = {
        devices = lib.mkForce [
          {
            id = "mppt";
            kind = "litime-mppt";
            address = "C8:47:80:00:00:01";
          }
          {
            id = "battery1";
            kind = "jbd-bms";
            address = "A4:C1:38:00:00:02";
            auth = "password";
            passwordFile = "/etc/solarmon-test/jbd-battery1";
          }
          {
            id = "battery2";
            kind = "jbd-bms";
            address = "A4:C1:38:00:00:03";
          }
        ];
        # The simulated battery1 rejects every password.
        simulator.faults = [ "battery1:wrong-password" ];
        # Not needed here; keeps the VM small.
        grafana.enable = false;
      };

      # Test only: a password in the store is fine for a throwaway VM.
      environment.etc."solarmon-test/jbd-battery1".text = "123456\n";
    };

  testScript = ''
    import shlex

    SECRETS = "/var/lib/solarmon-secrets"
    SUB = (
        "mosquitto_sub -h 127.0.0.1 -i solarmon-test -u solarmon-bridge "
        f'-P "$(cat {SECRETS}/mqtt-bridge.password)"'
    )

    start_all()
    machine.wait_for_unit("solarmon-simulator.service")
    machine.wait_until_succeeds("test -e /sys/class/bluetooth/hci0", timeout=120)
    machine.wait_for_unit("solarmon-collect.service")

    with subtest("the wrong password is reported clearly, once per cause, without a traceback"):
        machine.wait_until_succeeds(
            "journalctl -u solarmon-collect.service -o cat | grep -i battery1 | grep -i password",
            timeout=600,
        )
        line = machine.succeed(
            "journalctl -u solarmon-collect.service -o cat | grep -i battery1 | grep -i password | head -n 1"
        )
        machine.log(f"collector said: {line.strip()}")
        machine.fail("journalctl -u solarmon-collect.service -o cat | grep -q Traceback")
        machine.succeed("systemctl is-active solarmon-collect.service")

    with subtest("battery1 is reported offline"):
        machine.wait_until_succeeds(
            f"{SUB} -t solarmon/battery1/availability -C 1 -W 30 | grep -qx offline",
            timeout=600,
        )

    with subtest("the other devices keep flowing"):
        for dev in ("mppt", "battery2"):
            machine.wait_until_succeeds(f"{SUB} -t solarmon/{dev}/state -C 3 -W 120", timeout=600)
        token = f'"$(cat {SECRETS}/influx-admin.token)"'
        query = 'from(bucket: "solar_raw") |> range(start: -10m) |> filter(fn: (r) => r.device == "battery2") |> count()'
        machine.wait_until_succeeds(
            f"influx query --host http://127.0.0.1:8086 --token {token} --org solarmon --raw "
            f"{shlex.quote(query)} | grep -q _value",
            timeout=600,
        )
  '';
}
