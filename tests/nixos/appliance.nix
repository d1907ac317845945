# The whole appliance in one VM: simulated LiTime + JBD peripherals over hci_vhci ->
# real BlueZ -> solarmon collect -> mosquitto -> solarmon bridge -> InfluxDB 2 ->
# solarmon bootstrap's Flux tasks -> Grafana -> kiosk (cage + browser).
{ pkgs, lib, ... }:

{
  name = "solarmon-appliance";

  nodes.machine =
    { ... }:
    {
      imports = [ ./common-node.nix ];
      services.solarmon.kiosk = {
        enable = true;
        environment.WLR_RENDERER = "pixman";
        extraBrowserFlags = [ "--disable-gpu" ];
        output = "Virtual-1";
      };
      virtualisation.resolution = {
        x = 800;
        y = 480;
      };
    };

  testScript = ''
    import csv
    import io
    import json
    import shlex
    import time

    SECRETS = "/var/lib/solarmon-secrets"
    # Shell text, expanded inside the VM: the admin token never leaves it.
    TOKEN = f'"$(cat {SECRETS}/influx-admin.token)"'
    AUTH = f"-H \"Authorization: Token $(cat {SECRETS}/influx-admin.token)\""
    API = "http://127.0.0.1:8086/api/v2"
    DEVICES = ("mppt", "battery1", "battery2")


    def flux(query):
        return machine.succeed(
            f"influx query --host http://127.0.0.1:8086 --token {TOKEN} --org solarmon --raw "
            + shlex.quote(query)
        )


    def first_value(out, column="_value"):
        """Sum of `column` over the data rows of annotated CSV (0 when there are none)."""
        total = 0
        header = None
        for row in csv.reader(io.StringIO(out)):
            if not row or row[0].startswith("#"):
                header = None if not row else header
                continue
            if header is None:
                header = row
                continue
            value = row[header.index(column)]
            if value.isdigit():
                total += int(value)
        return total


    def count(bucket, pred="true", start="-1h", stop="now()"):
        return first_value(flux(
            f'from(bucket: "{bucket}") |> range(start: {start}, stop: {stop}) '
            # count() per series first: one table mixing float and integer fields would be
            # a schema collision in Flux.
            f"|> filter(fn: (r) => {pred}) |> count() |> group() |> sum()"
        ))


    def windows(bucket, pred, start, stop):
        """Distinct window timestamps (downsampled points are stamped with the window start)."""
        return first_value(flux(
            f'from(bucket: "{bucket}") |> range(start: {start}, stop: {stop}) '
            f"|> filter(fn: (r) => {pred}) |> keep(columns: [\"_time\"]) |> group() "
            f'|> unique(column: "_time") |> count(column: "_time")'
        ), column="_time")


    def wait_for(what, check, timeout=900, step=15):
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise Exception(f"timed out waiting for {what}")
            machine.sleep(step)


    def tasks():
        out = machine.succeed(f'curl -sf {AUTH} "{API}/tasks?org=solarmon"')
        return json.loads(out)["tasks"]


    def run_tasks(every):
        """Start a run of each task with this `every` now (POST /tasks/{id}/runs)."""
        for t in tasks():
            if t.get("every") == every:
                machine.succeed(
                    f"curl -sf -X POST {AUTH} -H 'Content-Type: application/json' "
                    f"-d '{{}}' {API}/tasks/{t['id']}/runs"
                )


    def now():
        return int(machine.succeed("date +%s"))


    start_all()

    with subtest("services come up"):
        machine.wait_for_unit("solarmon-secrets.service")
        machine.wait_for_unit("mosquitto.service")
        machine.wait_for_open_port(1883)
        machine.wait_for_unit("influxdb2.service")
        machine.wait_for_open_port(8086)
        machine.wait_for_unit("solarmon-simulator.service")
        machine.wait_until_succeeds("test -e /sys/class/bluetooth/hci0", timeout=120)
        machine.wait_for_unit("bluetooth.service")
        machine.wait_for_unit("solarmon-collect.service")
        machine.wait_for_unit("solarmon-bridge.service")
        machine.wait_for_unit("solarmon-bootstrap.service")
        machine.wait_for_unit("grafana.service")
        machine.wait_for_open_port(3000)
        # Secrets were generated at boot and are not world-readable.
        machine.succeed(f"test $(stat -c %a {SECRETS}/influx-admin.token) = 600")
        machine.succeed(f"test $(stat -c %a {SECRETS}/influx-bridge.token) = 640")

    with subtest("the collector publishes every device over MQTT"):
        sub = (
            "mosquitto_sub -h 127.0.0.1 -i solarmon-test -u solarmon-bridge "
            f'-P "$(cat {SECRETS}/mqtt-bridge.password)"'
        )
        for dev in DEVICES:
            msg = machine.wait_until_succeeds(f"{sub} -t solarmon/{dev}/state -C 1 -W 120", timeout=600)
            payload = json.loads(msg.strip().splitlines()[-1])
            assert payload["device"] == dev, payload
            assert payload["kind"] in ("litime-mppt", "jbd-bms"), payload
            assert isinstance(payload["ts"], int) and payload["fields"], payload
        # Only the configured service users get in.
        machine.fail("mosquitto_sub -h 127.0.0.1 -u nobody -P wrong -t 'solarmon/#' -C 1 -W 5")
        machine.fail("mosquitto_sub -h 127.0.0.1 -t 'solarmon/#' -C 1 -W 5")

    with subtest("raw points arrive in InfluxDB"):
        for dev in DEVICES:
            wait_for(f"raw points of {dev}", lambda: count("solar_raw", f'r.device == "{dev}"') > 0, timeout=600)

    with subtest("bootstrap created one task per downsampled tier"):
        everies = sorted(t.get("every") for t in tasks())
        assert everies == sorted(["2m", "5m", "30m", "2h"]), everies

    with subtest("a task run fills the 2 m tier (mean/min/max/last/bit_or)"):
        def filled():
            run_tasks("2m")
            return all(
                count("solar_2m", f'r._measurement == "{m}"', start="-2h") > 0
                for m in ("mean", "min", "max", "last", "bit_or")
            )
        wait_for("the 2m tier", filled, timeout=900, step=30)

    with subtest("catch-up: windows missed while InfluxDB was down are filled"):
        down_at = now()
        machine.succeed("systemctl stop influxdb2.service")
        machine.sleep(360)
        up_at = now()
        machine.succeed("systemctl start influxdb2.service")
        machine.wait_for_unit("influxdb2.service")
        machine.wait_for_open_port(8086)
        # The bridge replays what it queued on disk during the outage.
        wait_for(
            "raw points from the outage",
            lambda: count("solar_raw", 'r.device == "mppt"', start=down_at + 30, stop=up_at - 30) > 0,
            timeout=600,
        )
        first = (down_at // 120 + 1) * 120
        expected = (up_at - first) // 120
        assert expected >= 2, (down_at, up_at)

        def caught_up():
            run_tasks("2m")
            got = windows("solar_2m", 'r._measurement == "mean" and r.device == "mppt"', first, first + expected * 120)
            machine.log(f"2m windows in the outage: {got} of {expected}")
            return got >= expected
        wait_for("the missed 2m windows", caught_up, timeout=900, step=30)

    with subtest("points older than the raw retention reach the tiers (aggregated by the bridge)"):
        # As if a collector had held these for 30 hours: InfluxDB refuses them for the 24 h raw
        # bucket and no task would read them, so the bridge aggregates them itself.
        old = (now() - 30 * 3600) // 7200 * 7200 + 600
        for i, soc in enumerate((40.0, 50.0, 60.0)):
            payload = json.dumps({"ts": (old + 27 * i) * 1000, "device": "oldpack", "kind": "jbd-bms",
                                  "fields": {"soc": soc, "cycles": 7 + i}})
            machine.succeed(
                f'mosquitto_pub -h 127.0.0.1 -u solarmon-collect -P "$(cat {SECRETS}/mqtt-collect.password)" '
                f"-q 1 -t solarmon/oldpack/state -m {shlex.quote(payload)}"
            )
        for bucket in ("solar_2m", "solar_5m", "solar_30m", "solar_2h"):
            wait_for(
                f"the late window in {bucket}",
                lambda: count(bucket, 'r.device == "oldpack"', start=old - 7200, stop=old + 7200) > 0,
                timeout=300,
                step=10,
            )
        out = flux(
            f'from(bucket: "solar_2m") |> range(start: {old - 600}, stop: {old + 600}) '
            '|> filter(fn: (r) => r.device == "oldpack") '
            '|> map(fn: (r) => ({_time: r._time, name: r._measurement + "." + r._field, v: string(v: r._value)})) '
            '|> group() |> keep(columns: ["name", "v"])'
        )
        got = {}
        header = None
        for row in csv.reader(io.StringIO(out)):
            if not row or row[0].startswith("#"):
                continue
            if header is None or row == header:
                header = row
                continue
            got[row[header.index("name")]] = row[header.index("v")]
        machine.log(f"2m window of the late points: {got}")
        assert float(got["mean.soc"]) == 50.0 and float(got["min.soc"]) == 40.0, got
        assert float(got["max.soc"]) == 60.0 and got["last.cycles"] == "9", got
        assert count("solar_raw", 'r.device == "oldpack"', start=old - 7200, stop=old + 7200) == 0
        machine.fail("journalctl -o cat -u solarmon-bridge | grep -qE 'dead-lettered [0-9]+ (late )?point'")

    with subtest("Grafana answers a dashboard query through its datasource"):
        pw = machine.succeed(f"cat {SECRETS}/grafana-admin.password").strip()
        machine.succeed(
            f"curl -sf -u admin:{pw} http://127.0.0.1:3000/api/datasources/uid/solarmon-influx/health"
        )
        body = json.dumps({
            "from": "now-1h",
            "to": "now",
            "queries": [{
                "refId": "A",
                "datasource": {"type": "influxdb", "uid": "solarmon-influx"},
                "query": 'from(bucket: "solar_raw") |> range(start: -1h) |> filter(fn: (r) => r.device == "mppt") |> limit(n: 5)',
            }],
        })
        out = machine.succeed(
            f"curl -sf -u admin:{pw} -H 'Content-Type: application/json' "
            f"-X POST http://127.0.0.1:3000/api/ds/query -d {shlex.quote(body)}"
        )
        result = json.loads(out)["results"]["A"]
        assert "error" not in result, result
        assert any(f["data"]["values"] and f["data"]["values"][0] for f in result["frames"]), result
        # Anonymous visitors (kiosk, LAN PCs) can read the dashboards, not change them.
        machine.succeed("curl -sf http://127.0.0.1:3000/api/dashboards/uid/solarmon-kiosk")
        machine.succeed("curl -sf http://127.0.0.1:3000/api/dashboards/uid/solarmon-history")
        machine.fail(
            "curl -sf -X POST -H 'Content-Type: application/json' -d '{\"dashboard\": {\"title\": \"x\"}}' "
            "http://127.0.0.1:3000/api/dashboards/db"
        )

    with subtest("the kiosk shows the dashboard"):
        machine.wait_for_unit("cage-tty1.service")
        machine.wait_until_succeeds("pgrep -f -- '--kiosk'", timeout=300)
        machine.sleep(30)
        machine.screenshot("kiosk")

    with subtest("no tracebacks; sandboxing report"):
        machine.fail(
            "journalctl -o cat -u solarmon-collect -u solarmon-bridge -u solarmon-bootstrap | grep -q Traceback"
        )
        for unit in ("solarmon-collect", "solarmon-bridge", "solarmon-bootstrap"):
            machine.log(machine.succeed(f"systemd-analyze security {unit}.service | tail -n 1"))
  '';
}
