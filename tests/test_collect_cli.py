"""``solarmon collect`` as a process: the processor is wired in, the release endpoint answers, SIGTERM saves."""

from __future__ import annotations

import json
from pathlib import Path
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from broker import free_port
from test_features_integration import Recorder

pytestmark = pytest.mark.mosquitto


def test_collect_publishes_derived_kinds_and_serves_the_release_button(tmp_path: Path, mosquitto) -> None:  # noqa: ANN001
    http = free_port()
    conf = tmp_path / "c.toml"
    # A device that is not there and an adapter that does not exist: nothing real is touched.
    conf.write_text(f"""
[[devices]]
id = "mppt"
kind = "litime-mppt"
address = "C8:47:80:12:34:56"
[collector]
state_dir = "{tmp_path / 'state'}"
adapter = "hci99"
connect_timeout = 2
[mqtt]
host = "{mosquitto.host}"
port = {mosquitto.port}
[clock]
trust = "always"
[app_window]
http_port = {http}
""")
    sub = Recorder(mosquitto.host, mosquitto.port)
    proc = subprocess.Popen([sys.executable, "-m", "solarmon", "collect", "--config", str(conf)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not (sub.states("collector") and sub.states("mppt", "link-health")):
            time.sleep(0.1)
        assert sub.states("collector")[-1]["fields"]["clock_synced"] is True
        assert sub.states("mppt", "link-health")[-1]["fields"]["online"] is False
        with urllib.request.urlopen(f"http://127.0.0.1:{http}/release?device=mppt&minutes=5", timeout=5) as r:
            assert r.status == 200 and b"released for 5 min" in r.read()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not any(m["fields"]["released"]
                                                      for m in sub.states("mppt", "link-health")):
            time.sleep(0.1)
        assert any(m["fields"]["released"] for m in sub.states("mppt", "link-health"))
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
        sub.close()
    assert proc.returncode == 0, out
    assert "Traceback" not in out
    assert json.loads((tmp_path / "state" / "energy.json").read_text())["day"]
