"""Secrets after re-registration: the backend's are adopted, lost ones rotated, NVS rebuilt."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fleet.context import FleetContext
from fleet.nvs.escrow import escrowed
from fleet.nvs.nodeconfig import read_nodeconfig
from fleet.reregister.run import ReregisterReport
from fleet.sim.backend import BackendDouble
from fleet.vault.store import NODE_SECRET

MakeHome = Callable[..., Path]
RunLib = Callable[..., ReregisterReport]
LibCtx = Callable[[Path], FleetContext]


def forget_secret(ctx: FleetContext, uid: str) -> None:
    """Drop every vault record of `uid`'s node_secret (as if lost with the server)."""
    for info in ctx.vault.history(NODE_SECRET, uid):
        ctx.vault.delete(info.id)


def nvs_secret(ctx: FleetContext, uid: str) -> str:
    """The node_secret inside `uid`'s newest escrowed NVS image, read back by our parser."""
    image, _meta, keys = escrowed(ctx, uid)
    return str(read_nodeconfig(image, keys)["node_secret"])


def test_backend_secret_is_adopted_and_nvs_rebuilt(
    make_home: MakeHome, double: BackendDouble, run_lib: RunLib, lib_ctx: LibCtx
) -> None:
    """A differing or locally lost secret becomes the backend's, in the vault and in the NVS."""
    home = make_home(4, double.url)
    ctx = lib_ctx(home)
    kept = ctx.vault.node_secret("nd-ph-3")
    double.preseed("nd-ph-3", "esp32-00a000000003", kept)
    double.preseed("nd-light-0", "esp32-00a000000000", ctx.vault.node_secret("nd-light-0"))
    upstream = double.preseed("nd-ph-1", "esp32-00a000000001", "c0" * 32)
    forget_secret(ctx, "nd-ph-2")
    report = run_lib(home)
    assert ["nd-ph-1", "nd-ph-2"] == sorted(report.secrets_adopted)
    fresh_upstream = double.row_for("esp32-00a000000002")
    assert fresh_upstream is not None
    for uid, secret in (
        ("nd-ph-1", upstream),
        ("nd-ph-2", fresh_upstream.node_secret),
        ("nd-ph-3", kept),
    ):
        assert (secret, secret) == (ctx.vault.node_secret(uid), nvs_secret(ctx, uid))
    actions = [(r["action"], r["node_uid"]) for r in ctx.registry.audit_log(limit=200)]
    assert ("reregister.secret_adopted", "nd-ph-1") in actions
    assert ("reregister.secret_adopted", "nd-ph-3") not in actions
    assert 0 == report.exit_code


def test_lost_secrets_reported_then_rotated_on_request(
    make_home: MakeHome, double: BackendDouble, run_lib: RunLib, lib_ctx: LibCtx
) -> None:
    """Secrets lost everywhere are reported (exit 65); --rotate-lost-secrets then makes new ones."""
    home = make_home(3, double.url)
    double.send_secret = False
    ctx = lib_ctx(home)
    forget_secret(ctx, "nd-ph-1")
    forget_secret(ctx, "nd-ph-2")
    first = run_lib(home)
    assert (["nd-ph-1", "nd-ph-2"], 65) == (sorted(first.secrets_lost), first.exit_code)
    blocked = [e.uid for q in first.station_queue.values() for e in q if not e.ready]
    assert ["nd-ph-1", "nd-ph-2"] == blocked
    requests = len(double.log)
    second = run_lib(home, rotate_lost=True)
    assert (["nd-ph-1", "nd-ph-2"], [], 0) == (
        sorted(second.secrets_rotated),
        second.secrets_lost,
        second.exit_code,
    )
    assert requests == len(double.log)  # registered already: rotation needs no request
    one, two = ctx.vault.node_secret("nd-ph-1"), ctx.vault.node_secret("nd-ph-2")
    assert (one, two) == (nvs_secret(ctx, "nd-ph-1"), nvs_secret(ctx, "nd-ph-2"))
    assert one != two and 64 == len(one)
    assert all(e.ready for q in second.station_queue.values() for e in q)


def test_run_killed_after_adopting_rebuilds_nvs_on_resume(
    make_home: MakeHome, double: BackendDouble, run_lib: RunLib, lib_ctx: LibCtx
) -> None:
    """A run killed between adopting a secret and rebuilding the NVS rebuilds it when resumed."""
    from fleet.reregister.journal import ADOPTING, RegJournal, journal_path

    home = make_home(1, double.url)
    ctx = lib_ctx(home)
    uid = "nd-light-0"
    run_lib(home, fresh=True)  # escrows an image holding the vault's secret
    upstream = double.preseed("nd-x-1", None, None)  # just a fresh secret value from the double
    # the state a kill leaves: journal says adopting, vault holds the new secret, image is old
    journal = RegJournal.open(journal_path(home, double.url), fresh=True)
    journal.append(ADOPTING, uid)
    double.rows[1].node_secret = upstream
    ctx.vault.set_node_secret(uid, upstream)
    assert upstream != nvs_secret(ctx, uid)
    report = run_lib(home)
    assert ([uid], []) == (report.registered, report.secrets_adopted)
    assert upstream == nvs_secret(ctx, uid)


def test_rebuild_nvs_rebuilds_every_image_once(
    make_home: MakeHome, double: BackendDouble, run_lib: RunLib, lib_ctx: LibCtx
) -> None:
    """rebuild_nvs escrows a new image for every node, once, also for nodes already done."""
    home = make_home(3, double.url)
    run_lib(home)  # adopts the double's fresh secrets: three images
    ctx = lib_ctx(home)
    before = {uid: escrowed(ctx, uid)[1]["record"] for uid in ("nd-light-0", "nd-ph-1")}
    report = run_lib(home, rebuild_nvs=True)
    assert (3, 0) == (report.nvs_rebuilt, report.requests)
    after = {uid: escrowed(ctx, uid)[1]["record"] for uid in ("nd-light-0", "nd-ph-1")}
    assert all(after[u] > before[u] for u in before)
