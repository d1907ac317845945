"""The configuration file: TOML for people, JSON from the NixOS module; one schema.

Every mistake in a file is reported at once, each as a line that names the key
(``devices[1].address: ...``). Secrets are only ever paths to files; the file contents
are read when needed and never logged or echoed.
"""

from __future__ import annotations

from enum import StrEnum
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

    @model_validator(mode="after")
    def _unique(self) -> Config:
        problems = []
        raws = [t.name for t in self.tiers if t.span is None]
        if len(raws) != 1:
            problems.append(f"tiers: exactly one tier must have span = null (the raw tier), found {len(raws)}")
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
    refs += [("mqtt.password_file", cfg.mqtt.password_file), ("influx.token_file", cfg.influx.token_file)]
    for where, path in refs:
        if path is None:
            continue
        try:
            read_secret(path)
        except ConfigError as err:
            problems.append(f"{where}: {err.source}: {err.problems[0]}")
    return problems


def known_kinds() -> list[str]:
    """Device kinds a config may name."""
    return list(catalog.KINDS)
