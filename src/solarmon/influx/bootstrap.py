"""Idempotent InfluxDB setup: one bucket per tier with its retention, one Flux task per downsampled tier."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import logging
import time
from typing import Final, TypeVar

from influxdb_client import BucketRetentionRules, InfluxDBClient, TaskCreateRequest, TaskUpdateRequest
from influxdb_client.rest import ApiException
import urllib3

from ..errors import SolarmonError
from ..tiers import Tier
from . import tasks as task_gen

_LOGGER = logging.getLogger(__name__)

_T = TypeVar("_T")

#: A bucket that keeps data forever has no expire rule; Influx reports it as 0.
_FOREVER: Final = 0


class BootstrapError(SolarmonError):
    """InfluxDB is unreachable, the token is refused or lacks a permission, or a request failed."""


@dataclass(frozen=True, slots=True)
class Action:
    """One thing bootstrap found or did (for the report)."""

    kind: str  # "bucket" | "task"
    name: str
    what: str  # "created", "retention fixed", "updated", "unchanged", ...

    def __str__(self) -> str:
        return f"{self.kind} {self.name}: {self.what}"


def _retention_of(bucket: object) -> int:
    rules = getattr(bucket, "retention_rules", None) or []
    expire = [r for r in rules if getattr(r, "type", "expire") == "expire"]
    return int(expire[0].every_seconds or 0) if expire else _FOREVER


class Bootstrap:
    """Brings an InfluxDB org to the state the tiers and the catalog describe.

    Creates missing buckets, fixes the retention of existing ones, creates missing tasks and
    updates a task whose Flux text differs. Buckets and tasks it does not own are not touched
    (tasks are ours when their name starts with ``solarmon-downsample-``).
    """

    def __init__(self, url: str, org: str, token: str, timeout: float = 10.0) -> None:
        self.url = url
        self.org = org
        self.client = InfluxDBClient(url=url, token=token, org=org, timeout=int(timeout * 1000), retries=False)

    def close(self) -> None:
        """Release the HTTP pool."""
        self.client.close()

    def _call(self, action: str, resource: str, fn: Callable[[], _T]) -> _T:
        """Run one API call; turn every failure into a BootstrapError that says what to fix."""
        try:
            return fn()
        except ApiException as err:
            body = err.body.decode("utf-8", "replace") if isinstance(err.body, bytes) else str(err.body or "")
            said = f" (InfluxDB said: {body.strip()[:200]})" if body.strip() else ""
            if err.status == 401:
                raise BootstrapError(f"InfluxDB at {self.url} rejected the token (401): check influx.token_file"
                                     f"{said}") from None
            if err.status == 403:
                raise BootstrapError(f"the token lacks the permission {action}:{resource} in org {self.org!r} (403)"
                                     f"{said}") from None
            raise BootstrapError(f"{action} {resource} failed: HTTP {err.status} {err.reason or ''}{said}") from None
        except (urllib3.exceptions.HTTPError, OSError) as err:
            raise BootstrapError(f"InfluxDB at {self.url} is unreachable: {type(err).__name__}: {err}") from None

    def wait_ready(self, timeout: float) -> None:
        """Wait until InfluxDB answers /ping; BootstrapError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.client.ping():
                    return
            except Exception:  # ping already swallows most errors; any failure means "not yet"
                _LOGGER.debug("ping failed", exc_info=True)
            if time.monotonic() >= deadline:
                raise BootstrapError(f"InfluxDB at {self.url} is unreachable (no answer to /ping within "
                                     f"{timeout:.0f} s)")
            time.sleep(1.0)

    def org_id(self) -> str:
        """The id of the configured organisation."""
        orgs = self._call("read", "orgs", lambda: self.client.organizations_api().find_organizations(org=self.org))
        if not orgs:
            raise BootstrapError(f"organization {self.org!r} does not exist in InfluxDB at {self.url} "
                                 "(or the token cannot see it)")
        return str(orgs[0].id)

    def ensure_buckets(self, org_id: str, tiers: tuple[Tier, ...] | list[Tier]) -> list[Action]:
        """Every tier's bucket exists with the tier's retention."""
        api = self.client.buckets_api()
        actions = []
        for tier in tiers:
            found = self._call("read", "buckets", lambda t=tier: api.find_buckets(org_id=org_id, name=t.bucket).buckets)
            found = [b for b in found or [] if b.name == tier.bucket]
            rules = [BucketRetentionRules(type="expire", every_seconds=tier.retention)] if tier.retention else []
            if not found:
                self._call("write", "buckets", lambda t=tier, r=rules: api.create_bucket(
                    bucket_name=t.bucket, retention_rules=r, org=org_id,
                    description=f"solarmon tier {t.name}"))
                actions.append(Action("bucket", tier.bucket, f"created (retention {_human(tier.retention)})"))
                continue
            bucket = found[0]
            have = _retention_of(bucket)
            if have == tier.retention:
                actions.append(Action("bucket", tier.bucket, "unchanged"))
                continue
            bucket.retention_rules = rules
            self._call("write", "buckets", lambda b=bucket: api.update_bucket(b))
            actions.append(Action("bucket", tier.bucket,
                                  f"retention fixed: {_human(have)} -> {_human(tier.retention)}"))
        return actions

    def ensure_tasks(self, org_id: str, tiers: tuple[Tier, ...] | list[Tier]) -> list[Action]:
        """Every downsampled tier's task exists with exactly the generated Flux."""
        api = self.client.tasks_api()
        wanted = task_gen.generate_all(tiers)
        existing = self._call("read", "tasks", lambda: list(api.find_tasks_iter(org_id=org_id)))
        by_name: dict[str, list] = {}
        for t in existing:
            by_name.setdefault(t.name, []).append(t)
        actions = []
        for name, flux in wanted.items():
            have = by_name.get(name, [])
            if not have:
                self._call("write", "tasks", lambda f=flux: api.create_task(task_create_request=TaskCreateRequest(
                    org_id=org_id, flux=f, status="active", description="solarmon downsampling (generated)")))
                actions.append(Action("task", name, "created"))
                continue
            if len(have) > 1:
                _LOGGER.warning("%d tasks are named %s; updating all of them", len(have), name)
            changed = [t for t in have if (t.flux or "").strip() != flux.strip()]
            for t in changed:
                self._call("write", "tasks", lambda t=t, f=flux: api.update_task_request(
                    t.id, TaskUpdateRequest(flux=f)))
            actions.append(Action("task", name, "updated (Flux changed)" if changed else "unchanged"))
            if any(getattr(t, "status", "active") != "active" for t in have):
                _LOGGER.warning("task %s is inactive; left as it is (someone disabled it)", name)
        stale = sorted(n for n in by_name if n.startswith(task_gen.TASK_PREFIX) and n not in wanted)
        actions += [Action("task", n, "left alone (no tier of that name is configured)") for n in stale]
        return actions

    def run(self, tiers: tuple[Tier, ...] | list[Tier]) -> list[Action]:
        """Buckets first (tasks write into them), then tasks."""
        for t in tiers:
            if not t.is_raw:
                try:
                    task_gen.timing(t, tiers)  # refuse impossible tiers before changing anything
                except ValueError as err:
                    raise BootstrapError(f"tiers: {err}") from None
        org_id = self.org_id()
        return self.ensure_buckets(org_id, tiers) + self.ensure_tasks(org_id, tiers)


def _human(seconds: int) -> str:
    if seconds == _FOREVER:
        return "forever"
    if seconds % 86400 == 0:
        return f"{seconds // 86400} d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds} s"
