"""The NVS escrow: build each node's NVS image from its template and keep it in the vault.

An image is stored as vault kind `nvs_image`, subject the node uid, with meta
{sha256, template_version, config_version, size, node_type, encrypted, keys_record}. An
encrypted image's `nvs_keys` partition is stored as kind `nvs_keys` (same subject). Older
images stay as history until pruned (`[nvs] keep_history`, 0 keeps all).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleet.context import FleetContext
from fleet.errors import FleetError, NotFound, UsageError
from fleet.nvs import xts
from fleet.nvs.nodeconfig import build_nodeconfig_image
from fleet.nvs.render import merge, render
from fleet.nvs.rules import validate
from fleet.nvs.settings import NvsSettings
from fleet.nvs.site import secret_subjects, site_secrets, site_values
from fleet.nvs.sizing import PartitionSizer
from fleet.nvs.templates import Template, template_dirs, template_for
from fleet.registry.node import Node
from fleet.vault.store import NODE_SECRET

IMAGE_KIND = "nvs_image"
KEYS_KIND = "nvs_keys"


@dataclass(frozen=True)
class EscrowedImage:
    """One escrowed image: where it is in the vault, what it was built from, and its bytes."""

    node_uid: str
    record_id: int
    sha256: str
    size: int
    node_type: str
    template_version: int
    config_version: int
    encrypted: bool
    keys_record: int | None
    image: bytes = field(repr=False)


@dataclass(frozen=True)
class BuildAllResult:
    """What `build_all` did: images escrowed, seconds taken, and nodes that failed (uid, why)."""

    built: int
    seconds: float
    failures: list[tuple[str, str]]

    @property
    def images_per_second(self) -> float:
        """Escrowed images per second of wall time."""
        return self.built / self.seconds if self.seconds > 0 else 0.0


def nvs_settings(ctx: FleetContext) -> NvsSettings:
    """The `[nvs]` section."""
    return ctx.settings.section("nvs", NvsSettings)


class _Builder:
    """Everything a build needs once per run (site values, templates, sizes), then per node."""

    def __init__(self, ctx: FleetContext, node_secrets: dict[str, bytes] | None = None) -> None:
        self.ctx = ctx
        self.node_secrets = node_secrets
        self.cfg = nvs_settings(ctx)
        extra = [Path(self.cfg.templates_dir).expanduser()] if self.cfg.templates_dir else []
        self.dirs = template_dirs(ctx.home, extra)
        self.site = site_values(ctx)
        self.secret_subjects = secret_subjects(ctx)
        self.sizer = PartitionSizer(ctx, self.cfg.partition_size)
        self._templates: dict[str, Template] = {}

    def template(self, node_type: str) -> Template:
        if node_type not in self._templates:
            self._templates[node_type] = template_for(node_type, self.dirs)
        return self._templates[node_type]

    def node_secret(self, uid: str) -> str:
        if self.node_secrets is None:
            return self.ctx.vault.node_secret(uid)
        if uid not in self.node_secrets:
            raise NotFound(f"the vault holds no {NODE_SECRET} for {uid}", subject=uid)
        return self.node_secrets[uid].decode("ascii")

    def config(self, node: Node) -> tuple[Template, dict[str, Any]]:
        try:
            tpl = self.template(node.node_type)
        except NotFound as exc:
            raise NotFound(f"node {node.uid}: {exc.message}", node_uid=node.uid) from exc
        values = {
            **self.site,
            "node.uid": node.uid,
            "node.gh_uid": node.gh_uid,
            "node.zone_uid": node.zone_uid,
            "node.hardware_id": node.hardware_id,
            "node.mac": node.mac,
            "node.node_type": node.node_type,
            "node.chip": node.chip,
            "secret.node_secret": self.node_secret(node.uid),
        }
        overrides = _overrides(self.cfg.nodes.get(node.uid, {}))
        node_secrets = {
            k: v for k, v in site_secrets(self.ctx, node.uid, self.secret_subjects).items() if v
        }
        for key, value in node_secrets.items():
            overrides = merge(overrides, _nest(key, value))
        config = render(tpl, values, overrides)
        validate(config, node.uid)
        return tpl, config

    def image(self, node: Node) -> tuple[Template, dict[str, Any], bytes, bytes | None]:
        tpl, config = self.config(node)
        key = xts.generate_key() if self.cfg.encrypt else None
        size = self.sizer.size(node)
        image = build_nodeconfig_image(config, size, key, self.cfg.format_version)
        return tpl, config, image, key


def _overrides(raw: dict[str, Any]) -> dict[str, Any]:
    """fleet.toml overrides may be nested tables or dotted keys (`"wifi.ssid" = ...`)."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        out = merge(out, _nest(key, value) if "." in key else {key: value})
    return out


def _nest(dotted: str, value: Any) -> dict[str, Any]:
    parts = dotted.split(".")
    tree: dict[str, Any] = {parts[-1]: value}
    for part in reversed(parts[:-1]):
        tree = {part: tree}
    return tree


def render_for_node(ctx: FleetContext, uid: str) -> dict[str, Any]:
    """The validated NodeConfig `uid` would get now (holds its secrets: do not print it)."""
    return _Builder(ctx).config(ctx.registry.get_node(uid))[1]


def _meta(
    tpl: Template, config: dict[str, Any], image: bytes, keys_record: int | None
) -> dict[str, Any]:
    return {
        "sha256": hashlib.sha256(image).hexdigest(),
        "template_version": tpl.version,
        "config_version": config.get("version"),
        "size": len(image),
        "node_type": tpl.node_type,
        "encrypted": keys_record is not None,
        "keys_record": keys_record,
    }


def _escrowed_image(uid: str, record: int, meta: dict[str, Any], image: bytes) -> EscrowedImage:
    return EscrowedImage(
        uid,
        record,
        meta["sha256"],
        meta["size"],
        meta["node_type"],
        meta["template_version"],
        int(meta["config_version"] or 0),
        meta["encrypted"],
        meta["keys_record"],
        image,
    )


def _escrow(
    ctx: FleetContext,
    node: Node,
    tpl: Template,
    config: dict[str, Any],
    image: bytes,
    key: bytes | None,
) -> EscrowedImage:
    keys_record = None
    if key is not None:
        keys_record = ctx.vault.put(KEYS_KIND, node.uid, xts.keys_partition(key))
    meta = _meta(tpl, config, image, keys_record)
    record = ctx.vault.put(IMAGE_KIND, node.uid, image, meta)
    return _escrowed_image(node.uid, record, meta, image)


def build_for_node(ctx: FleetContext, uid: str) -> EscrowedImage:
    """Build `uid`'s NVS image from its template and site values, escrow it, audit it.

    Raises NodeNotFound, NotFound (no template / no node_secret), NodeConfigInvalid (a
    firmware rule broken, naming the field) or NvsInputError.
    """
    builder = _Builder(ctx)
    node = ctx.registry.get_node(uid)
    tpl, config, image, key = builder.image(node)
    done = _escrow(ctx, node, tpl, config, image, key)
    _prune(ctx, uid, builder.cfg.keep_history)
    ctx.registry.audit(
        "nvs.build", node_uid=uid, detail={"record": done.record_id, "sha256": done.sha256}
    )
    return done


def build_all(
    ctx: FleetContext,
    on_node: Callable[[str, str | None], None] | None = None,
    nodes: list[Node] | None = None,
    batch: int = 250,
) -> BuildAllResult:
    """Rebuild and escrow every registered node's image; one failing node does not stop the rest.

    Secrets are read in one query and images stored one transaction per `batch` nodes.
    `on_node(uid, error_or_None)` is called after each node (progress bars).
    """
    start = time.perf_counter()
    builder = _Builder(ctx, ctx.vault.newest_of_kind(NODE_SECRET))
    todo = ctx.registry.list_nodes() if nodes is None else nodes
    failures: list[tuple[str, str]] = []
    audits: list[dict[str, Any]] = []
    built = 0
    for first in range(0, len(todo), batch):
        made: list[tuple[Node, Template, dict[str, Any], bytes, bytes | None]] = []
        for node in todo[first : first + batch]:
            try:
                made.append((node, *builder.image(node)))
            except FleetError as exc:
                failures.append((node.uid, exc.message))
                audits.append(
                    {
                        "action": "nvs.build",
                        "node_uid": node.uid,
                        "outcome": "error",
                        "detail": {"error": exc.message},
                    }
                )
                if on_node is not None:
                    on_node(node.uid, exc.message)
        key_ids = iter(
            ctx.vault.put_many(
                [(KEYS_KIND, n.uid, xts.keys_partition(k), None) for n, _t, _c, _i, k in made if k],
            )
        )
        metas = [_meta(t, c, i, next(key_ids) if k else None) for _n, t, c, i, k in made]
        records = ctx.vault.put_many(
            [(IMAGE_KIND, m[0].uid, m[3], meta) for m, meta in zip(made, metas, strict=True)]
        )
        for (node, *_rest), record, meta in zip(made, records, metas, strict=True):
            if builder.cfg.keep_history:
                _prune(ctx, node.uid, builder.cfg.keep_history)
            audits.append(
                {
                    "action": "nvs.build",
                    "node_uid": node.uid,
                    "detail": {"record": record, "sha256": meta["sha256"]},
                }
            )
            built += 1
            if on_node is not None:
                on_node(node.uid, None)
    if audits:
        ctx.registry.audit_many(audits)
    seconds = time.perf_counter() - start
    ctx.registry.audit(
        "nvs.build_all",
        outcome="ok" if not failures else "partial",
        detail={"built": built, "failed": len(failures), "seconds": round(seconds, 3)},
    )
    return BuildAllResult(built, seconds, failures)


def image_for_node(ctx: FleetContext, uid: str, build_if_missing: bool = True) -> bytes:
    """The newest escrowed image of `uid` (built and escrowed first when there is none)."""
    ctx.registry.get_node(uid)
    if not ctx.vault.has(IMAGE_KIND, uid):
        if not build_if_missing:
            raise NotFound(f"no NVS image escrowed for node {uid} (run `fleet nvs build {uid}`)")
        return build_for_node(ctx, uid).image
    return ctx.vault.get(IMAGE_KIND, uid)


def escrowed(ctx: FleetContext, uid: str) -> tuple[bytes, dict[str, Any], bytes | None]:
    """(image, meta, nvs_keys image or None) of `uid`'s newest escrow; NotFound when none."""
    history = ctx.vault.history(IMAGE_KIND, uid)
    if not history:
        raise NotFound(f"no NVS image escrowed for node {uid} (run `fleet nvs build {uid}`)")
    newest = history[0]
    meta = dict(newest.meta or {})
    meta["record"] = newest.id
    meta["created_at"] = newest.created_at.isoformat()
    keys = meta.get("keys_record")
    return (
        ctx.vault.get_record(newest.id),
        meta,
        ctx.vault.get_record(int(keys)) if keys else None,
    )


def prune(ctx: FleetContext, keep: int, uid: str | None = None) -> int:
    """Delete all but the newest `keep` (>= 1) escrowed images of `uid` (or of every node).

    Returns how many images were deleted (with their nvs_keys records); audited.
    """
    if keep < 1:
        raise UsageError("keep at least the newest image (--keep >= 1)")
    uids = [uid] if uid is not None else sorted({i.subject for i in ctx.vault.history(IMAGE_KIND)})
    removed = sum(_prune(ctx, u, keep) for u in uids)
    ctx.registry.audit("nvs.prune", node_uid=uid, detail={"keep": keep, "removed": removed})
    return removed


def _prune(ctx: FleetContext, uid: str, keep: int) -> int:
    if keep <= 0:
        return 0
    removed = 0
    for info in ctx.vault.history(IMAGE_KIND, uid)[keep:]:
        keys = (info.meta or {}).get("keys_record")
        if keys:
            ctx.vault.delete(int(keys))
        ctx.vault.delete(info.id)
        removed += 1
    return removed


def node_secret_known(ctx: FleetContext, uid: str) -> bool:
    """True when the vault holds `uid`'s node_secret (an image cannot be built without it)."""
    return ctx.vault.has(NODE_SECRET, uid)


def now() -> dt.datetime:
    """UTC now (one place, for tests)."""
    return dt.datetime.now(dt.UTC)
