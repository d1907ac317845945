"""The configuration file: TOML for people, JSON from the NixOS module; one schema.

Every mistake in a file is reported at once, each as a line that names the key
(``devices[1].address: ...``). Secrets are only ever paths to files; the file contents
are read when needed and never logged or echoed.
"""

from __future__ import annotations

from enum import StrEnum
import fnmatch
import json
import os
from pathlib import Path
import re
import tomllib
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from . import catalog
from .errors import ConfigError
from .tiers import DEFAULT_TIERS, Tier

_MAC = re.compile(r"^[0-9A-F]{2}(:[0-9A-F]{2}){5}$")
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_BUCKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class _Strict(BaseModel):
    # Unknown keys are mistakes (a typo would otherwise be silently ignored).
    model_config = ConfigDict(extra="forbid", frozen=True)


class AuthMode(StrEnum):
    """How a JBD BMS is unlocked."""

    AUTO = "auto"  # try a data read; authenticate with the password file if it fails
    NONE = "none"  # adapter without password support
    PASSWORD = "password"  # always run the password sequence first


SecretFile = Annotated[str, Field(min_length=1, description="path to a file holding a secret")]


def expand_path(path: str) -> Path:
    """Expand ``$CREDENTIALS_DIRECTORY`` (systemd LoadCredential) and ``~`` in a path."""
    return Path(os.path.expanduser(os.path.expandvars(path)))


def read_secret(path: str) -> str:
    """Read a secret file: first line, surrounding whitespace removed.

    Raises ``ConfigError`` naming the file (never its contents).
    """
    p = expand_path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(str(p), [f"cannot read secret file: {err.strerror}"]) from None
    lines = text.splitlines()
    secret = lines[0].strip() if lines else ""
    if not secret:
        raise ConfigError(str(p), ["secret file is empty"])
    return secret


class Device(_Strict):
    """One BLE device to poll."""

    id: str = Field(description="short id used in MQTT topics and Influx tags, e.g. 'battery1'")
    kind: Literal["litime-mppt", "jbd-bms"]
    address: str = Field(description="Bluetooth MAC address, AA:BB:CC:DD:EE:FF")
    name: str | None = Field(default=None, description="display name; defaults to id")
    interval: float | None = Field(default=None, ge=2, le=3600, description="poll interval in s")
    auth: AuthMode = AuthMode.AUTO
    password_file: SecretFile | None = None
    passkey_file: SecretFile | None = Field(
        default=None, description="BLE passkey of a third-generation JBD, for `solarmon pair`"
    )

    @field_validator("id")
    @classmethod
    def _id_ok(cls, v: str) -> str:
        if not _ID.match(v):
            raise ValueError(
                "must be 1-32 characters of a-z, 0-9, '-' or '_', starting with a letter or digit"
            )
        return v

    @field_validator("address")
    @classmethod
    def _mac_ok(cls, v: str) -> str:
        mac = v.strip().upper().replace("-", ":")
        if not _MAC.match(mac):
            raise ValueError(f"{v!r} is not a Bluetooth MAC address like C8:47:80:12:34:56")
        return mac

    @model_validator(mode="after")
    def _auth_ok(self) -> Device:
        if self.kind != "jbd-bms" and (self.password_file or self.auth is not AuthMode.AUTO):
            raise ValueError("auth and password_file apply to jbd-bms devices only")
        if self.kind != "jbd-bms" and self.passkey_file:
            raise ValueError("passkey_file applies to jbd-bms devices only")
        if self.auth is AuthMode.PASSWORD and not self.password_file:
            raise ValueError("auth = 'password' needs password_file")
        return self

    @property
    def display_name(self) -> str:
        """Name to show people."""
        return self.name or self.id


class Mqtt(_Strict):
    """Broker connection."""

    host: str = "localhost"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password_file: SecretFile | None = None
    topic_prefix: str = "solarmon"
    keepalive: int = Field(default=30, ge=5, le=3600)

    @field_validator("topic_prefix")
    @classmethod
    def _prefix_ok(cls, v: str) -> str:
        if not v or any(c in v for c in "#+") or v.startswith("/") or v.endswith("/"):
            raise ValueError("must be a plain topic level such as 'solarmon' (no #, +, leading or trailing /)")
        return v


class HomeAssistant(_Strict):
    """Optional Home Assistant MQTT discovery."""

    discovery: bool = False
    prefix: str = "homeassistant"


class Collector(_Strict):
    """Polling behaviour shared by all devices."""

    interval: float = Field(default=27.0, ge=2, le=3600, description="default poll interval, s")
    timeout: float = Field(default=5.0, gt=0, le=60, description="per-request reply timeout, s")
    connect_timeout: float = Field(default=20.0, gt=0, le=120)
    offline_after: int = Field(default=3, ge=1, description="failed polls before 'offline'")
    adapter: str = Field(default="hci0", description="BlueZ adapter to use and to power-cycle")
    adapter_reset_after: int = Field(
        default=3, ge=1, description="devices failing at once that trigger an adapter power-cycle"
    )
    restart_bluetoothd: bool = Field(
        default=False, description="after an adapter power-cycle did not help, restart bluetooth.service"
    )
    state_dir: str = Field(default="/var/lib/solarmon-collector",
                           description="energy counters, active alerts and the push queue")


class Clock(_Strict):
    """When the system clock is trusted (see solarmon.clock)."""

    trust: Literal["auto", "always"] = Field(
        default="auto",
        description="'auto': NTP-synchronised or a plausible RTC; 'always': never hold samples",
    )
    hold_max: int = Field(default=20000, ge=0, le=1_000_000,
                          description="samples held while the clock is untrusted; the oldest are dropped beyond")


class AlertRule(_Strict):
    """One threshold rule: raise after ``delay`` s beyond the threshold, clear past the hysteresis."""

    name: str = Field(description="short id, e.g. 'low-soc'; shown on the kiosk and in pushes")
    field: str = Field(description="catalog field, '*' wildcards allowed (temperature_*)")
    device: str = Field(default="*", description="device id, or '*' for every device having the field")
    below: float | None = None
    above: float | None = None
    nonzero: bool = Field(default=False, description="raise while the value is non-zero (flags)")
    hysteresis: float = Field(default=0.0, ge=0)
    delay: float = Field(default=0.0, ge=0, le=86400, description="s the condition must hold before raising")

    @field_validator("name")
    @classmethod
    def _name_ok(cls, v: str) -> str:
        if not _ID.match(v):
            raise ValueError("must be 1-32 characters of a-z, 0-9, '-' or '_'")
        return v

    @field_validator("field")
    @classmethod
    def _field_ok(cls, v: str) -> str:
        names = catalog.all_field_names()
        if not any(fnmatch.fnmatchcase(n, v) for n in names):
            raise ValueError(f"{v!r} matches no catalog field")
        return v

    @model_validator(mode="after")
    def _one_condition(self) -> AlertRule:
        given = (self.below is not None) + (self.above is not None) + self.nonzero
        if given != 1:
            raise ValueError("give exactly one of below, above or nonzero = true")
        if self.nonzero and self.hysteresis:
            raise ValueError("hysteresis does not apply to nonzero rules")
        return self


def _default_rules() -> list[AlertRule]:
    # LiFePO4 limits of the reference system; a configured list replaces these entirely.
    return [
        AlertRule(name="low-soc", field="soc", device="bank", below=20, hysteresis=5, delay=60),
        AlertRule(name="cell-delta", field="cell_voltage_delta", above=0.1, hysteresis=0.02, delay=300),
        AlertRule(name="cell-low", field="cell_voltage_min", below=2.9, hysteresis=0.1, delay=30),
        AlertRule(name="cell-high", field="cell_voltage_max", above=3.65, hysteresis=0.05, delay=30),
        AlertRule(name="pack-low", field="pack_voltage", below=11.6, hysteresis=0.4, delay=60),
        AlertRule(name="pack-high", field="pack_voltage", above=14.6, hysteresis=0.2, delay=60),
        AlertRule(name="hot", field="temperature_*", above=55, hysteresis=5, delay=60),
        AlertRule(name="cold", field="temperature_*", below=0, hysteresis=3, delay=300),
        AlertRule(name="controller-hot", field="controller_temperature", above=70, hysteresis=5, delay=60),
        AlertRule(name="protection", field="protection_flags", nonzero=True),
        AlertRule(name="controller-alarm", field="alarm_flags", nonzero=True),
    ]


class Push(_Strict):
    """Optional push of alert changes (ntfy or any webhook), queued on disk while offline."""

    url: str = Field(description="http(s) URL; ntfy: https://ntfy.example/topic")
    format: Literal["ntfy", "json"] = Field(default="ntfy", description="ntfy: text body; json: the event object")
    token_file: SecretFile | None = Field(default=None, description="bearer token file, if the server needs one")
    retry: float = Field(default=60.0, ge=1, le=3600, description="s between delivery attempts while failing")

    @field_validator("url")
    @classmethod
    def _url_ok(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s]+", v):
            raise ValueError(f"{v!r} is not an http:// or https:// URL")
        return v


class Alerts(_Strict):
    """Alert rules, evaluated in the collector: they work without any network."""

    enabled: bool = True
    silent_after: float = Field(default=600.0, ge=30, le=86400,
                                description="s without a sample before a device is 'silent'")
    rules: list[AlertRule] = Field(default_factory=_default_rules)
    push: Push | None = None

    @model_validator(mode="after")
    def _unique_names(self) -> Alerts:
        names = [r.name for r in self.rules]
        dups = sorted({n for n in names if names.count(n) > 1})
        if dups:
            raise ValueError(f"rules: duplicate name {', '.join(dups)}")
        return self


class Bank(_Strict):
    """The derived 'bank' device: parallel packs combined."""

    packs: list[str] | None = Field(default=None, description="jbd-bms device ids; default every jbd-bms")
    stale_after: float = Field(default=120.0, ge=10, le=3600,
                               description="s after which a pack's last sample no longer counts")


class Energy(_Strict):
    """Daily energy counters."""

    max_gap: float = Field(default=300.0, ge=10, le=3600,
                           description="s: two samples further apart are not integrated across")
    history_days: int = Field(default=30, ge=0, le=255,
                              description="LiTime stored days read at start-up to fill missed days")


class LoadRule(_Strict):
    """Switch a LiTime controller's load output by SOC or battery voltage, with hysteresis."""

    device: str = Field(description="id of a litime-mppt device")
    off_below_soc: float | None = Field(default=None, ge=0, le=100, description="bank SOC %")
    on_above_soc: float | None = Field(default=None, ge=0, le=100)
    off_below_voltage: float | None = Field(default=None, gt=0, le=100, description="controller battery V")
    on_above_voltage: float | None = Field(default=None, gt=0, le=100)
    on_from: str | None = Field(default=None, description="HH:MM local: the load may be on from ...")
    on_until: str | None = Field(default=None, description="HH:MM local: ... until (may wrap midnight)")
    min_dwell: float = Field(default=600.0, ge=30, le=86400, description="s between two switches")

    @field_validator("on_from", "on_until")
    @classmethod
    def _hhmm(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^([01][0-9]|2[0-3]):[0-5][0-9]$", v):
            raise ValueError(f"{v!r} is not a time like 06:30")
        return v

    @model_validator(mode="after")
    def _pairs(self) -> LoadRule:
        problems = []
        for what in ("soc", "voltage"):
            off, on = getattr(self, f"off_below_{what}"), getattr(self, f"on_above_{what}")
            if (off is None) != (on is None):
                problems.append(f"off_below_{what} and on_above_{what} go together")
            elif off is not None and on <= off:
                problems.append(f"on_above_{what} must be above off_below_{what} (the gap is the hysteresis)")
        if (self.on_from is None) != (self.on_until is None):
            problems.append("on_from and on_until go together")
        elif self.on_from is not None and self.on_from == self.on_until:
            problems.append("on_from and on_until must differ")
        if self.off_below_soc is None and self.off_below_voltage is None and self.on_from is None:
            problems.append("give a SOC pair, a voltage pair or a schedule")
        if problems:
            raise ValueError("\n".join(problems))
        return self


class AppWindow(_Strict):
    """Releasing devices for the vendors' phone apps."""

    max_minutes: float = Field(default=120.0, gt=0, le=1440, description="longest release accepted")
    default_minutes: float = Field(default=15.0, gt=0, le=1440, description="release length of the kiosk button")
    http_port: int | None = Field(default=None, ge=1024, le=65535,
                                  description="loopback-only port for the kiosk button; null: off")


class TierConfig(_Strict):
    """One retention tier (see solarmon.tiers)."""

    name: str
    bucket: str
    span: int | None = Field(default=None, ge=10, description="window in s; null for the raw tier")
    retention: int = Field(ge=0, description="s; 0 keeps forever")

    @field_validator("bucket")
    @classmethod
    def _bucket_ok(cls, v: str) -> str:
        if not _BUCKET.match(v):
            raise ValueError(f"{v!r} is not a valid bucket name")
        return v

    def to_tier(self) -> Tier:
        """The immutable Tier this entry describes."""
        return Tier(self.name, self.bucket, self.span, self.retention)


def _default_tiers() -> list[TierConfig]:
    return [TierConfig(name=t.name, bucket=t.bucket, span=t.span, retention=t.retention) for t in DEFAULT_TIERS]


class Influx(_Strict):
    """InfluxDB 2 connection (bridge writes, bootstrap creates buckets and tasks)."""

    url: str = "http://127.0.0.1:8086"
    org: str = "solarmon"
    token_file: SecretFile | None = None
    timeout: float = Field(default=10.0, gt=0, le=300)


class Bridge(_Strict):
    """MQTT -> InfluxDB bridge."""

    client_id: str = "solarmon-bridge"
    state_dir: str = Field(default="/var/lib/solarmon", description="holds the on-disk queue")
    batch_size: int = Field(default=500, ge=1, le=50000)
    flush_interval: float = Field(default=2.0, gt=0, le=300, description="max s a point waits")
    max_backoff: float = Field(default=60.0, gt=0, le=3600)


class Logging(_Strict):
    """Log output."""

    level: Literal["debug", "info", "warning", "error"] = "info"


class Config(_Strict):
    """The whole solarmon configuration file."""

    devices: list[Device] = Field(default_factory=list)
    mqtt: Mqtt = Field(default_factory=Mqtt)
    homeassistant: HomeAssistant = Field(default_factory=HomeAssistant)
    collector: Collector = Field(default_factory=Collector)
    influx: Influx = Field(default_factory=Influx)
    tiers: list[TierConfig] = Field(default_factory=_default_tiers)
    bridge: Bridge = Field(default_factory=Bridge)
    logging: Logging = Field(default_factory=Logging)
    clock: Clock = Field(default_factory=Clock)
    alerts: Alerts = Field(default_factory=Alerts)
    bank: Bank = Field(default_factory=Bank)
    energy: Energy = Field(default_factory=Energy)
    load_rules: list[LoadRule] = Field(default_factory=list)
    app_window: AppWindow = Field(default_factory=AppWindow)

    @model_validator(mode="after")
    def _unique(self) -> Config:
        problems = []
        kinds = {d.id: d.kind for d in self.devices}
        for i, d in enumerate(self.devices):
            if d.id in catalog.DERIVED_IDS:
                problems.append(f"devices[{i}].id: {d.id!r} is reserved for a derived device "
                                f"({', '.join(sorted(catalog.DERIVED_IDS))})")
        for i, r in enumerate(self.alerts.rules):
            if r.device != "*" and r.device not in kinds and r.device not in catalog.DERIVED_IDS:
                problems.append(f"alerts.rules[{i}].device: no device {r.device!r}")
        for i, p in enumerate(self.bank.packs or []):
            if kinds.get(p) != "jbd-bms":
                problems.append(f"bank.packs[{i}]: {p!r} is not a configured jbd-bms device")
        for i, lr in enumerate(self.load_rules):
            if kinds.get(lr.device) != "litime-mppt":
                problems.append(f"load_rules[{i}].device: {lr.device!r} is not a configured litime-mppt device")
        devices = [lr.device for lr in self.load_rules]
        problems += [f"load_rules: {d!r} has more than one rule" for d in sorted(set(devices))
                     if devices.count(d) > 1]
        if self.app_window.default_minutes > self.app_window.max_minutes:
            problems.append("app_window.default_minutes: longer than max_minutes")
        raws = [t.name for t in self.tiers if t.span is None]
        if len(raws) != 1:
            problems.append(f"tiers: exactly one tier must have span = null (the raw tier), found {len(raws)}")
        spans = sorted({t.span for t in self.tiers if t.span is not None})
        if not spans:
            problems.append("tiers: at least one downsampled tier (with a span) is needed")
        for span in spans:
            if spans[-1] % span:
                problems.append(f"tiers: span {span} s does not divide the coarsest span {spans[-1]} s "
                                "(windows must line up so late points are aggregated consistently)")
        for attr in ("name", "bucket"):
            values = [getattr(t, attr) for t in self.tiers]
            dups = sorted({v for v in values if values.count(v) > 1})
            if dups:
                problems.append(f"tiers: duplicate {attr} {', '.join(dups)}")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def interval_of(self, device: Device) -> float:
        """Poll interval of a device (its own, else the collector default)."""
        return device.interval if device.interval is not None else self.collector.interval

    @property
    def tier_list(self) -> tuple[Tier, ...]:
        """The configured tiers as immutable Tier records."""
        return tuple(t.to_tier() for t in self.tiers)


# --- loading -----------------------------------------------------------------


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith(("function-after", "function-before")) or part in ("litime-mppt", "jbd-bms"):
            continue
        else:
            out += f".{part}" if out else part
    return out or "(top level)"


def _explain(err: ValidationError) -> list[str]:
    problems: list[str] = []
    for e in err.errors(include_url=False):
        where = _location(e["loc"])
        if e["type"] == "extra_forbidden":
            problems.append(f"{where}: unknown key")
            continue
        msg = e["msg"].removeprefix("Value error, ")
        for line in msg.splitlines():
            problems.append(line if where == "(top level)" else f"{where}: {line}")
    return problems


def _duplicate_devices(data: Any) -> list[str]:
    """Devices sharing an id or a MAC, found on the raw data so they show beside other mistakes."""
    devices = data.get("devices") if isinstance(data, dict) else None
    if not isinstance(devices, list):
        return []
    problems = []
    for attr in ("id", "address"):
        seen: dict[str, int] = {}
        for i, d in enumerate(devices):
            value = d.get(attr) if isinstance(d, dict) else None
            if not isinstance(value, str):
                continue
            if attr == "address":
                value = value.strip().upper().replace("-", ":")
            if value in seen:
                problems.append(f"devices[{i}].{attr} {value!r} is already used by devices[{seen[value]}]")
            seen.setdefault(value, i)
    return problems


def parse(data: Any, source: str = "<config>") -> Config:
    """Validate already-loaded data; ``ConfigError`` lists every problem."""
    duplicates = _duplicate_devices(data)
    try:
        cfg = Config.model_validate(data)
    except ValidationError as err:
        raise ConfigError(source, _explain(err) + duplicates) from None
    if duplicates:
        raise ConfigError(source, duplicates)
    return cfg


def load(path: str | Path) -> Config:
    """Load and validate a TOML (``.toml``) or JSON file."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as err:
        raise ConfigError(str(p), [f"cannot read: {err.strerror}"]) from None
    # By suffix; a file without one is JSON if it starts with "{" (TOML can start with "[").
    is_json = p.suffix == ".json" or (p.suffix != ".toml" and raw.lstrip()[:1] == b"{")
    try:
        data = json.loads(raw) if is_json else tomllib.loads(raw.decode("utf-8"))
    except (json.JSONDecodeError, tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(str(p), [f"not valid {'JSON' if is_json else 'TOML'}: {err}"]) from None
    return parse(data, str(p))


def check_files(cfg: Config) -> list[str]:
    """Problems with the secret files a config names (missing, unreadable, empty)."""
    problems = []
    refs: list[tuple[str, str | None]] = [
        (f"devices[{i}].password_file", d.password_file) for i, d in enumerate(cfg.devices)
    ]
    refs += [(f"devices[{i}].passkey_file", d.passkey_file) for i, d in enumerate(cfg.devices)]
    refs += [("mqtt.password_file", cfg.mqtt.password_file), ("influx.token_file", cfg.influx.token_file)]
    if cfg.alerts.push is not None:
        refs.append(("alerts.push.token_file", cfg.alerts.push.token_file))
    for where, path in refs:
        if path is None:
            continue
        try:
            read_secret(path)
        except ConfigError as err:
            problems.append(f"{where}: {err.source}: {err.problems[0]}")
    return problems
