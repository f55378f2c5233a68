"""The snapshot manifest and its authentication (see docs/backup-format.md).

`manifest.json` is plaintext JSON (no secrets: names, sizes, hashes, versions). It is
authenticated by `manifest.mac`: the manifest's SHA-256 (checkable by anyone: catches damage)
and an HMAC-SHA256 under a per-snapshot random key that is sealed in `seal.age` to the
backup recipients (checkable only with an identity: catches edits by anyone who does not
hold a recipient key and cannot re-seal).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from fleet.errors import CorruptData

FORMAT = "fleet-backup/1"
MANIFEST = "manifest.json"
MAC = "manifest.mac"
SEAL = "seal.age"
ARTIFACTS = "artifacts"


@dataclass
class ArtifactRecord:
    """One artifact as the manifest records it.

    `file`: path inside the snapshot folder (`artifacts/<layer>/<name>.age`). `size` and
    `sha256`: of the plaintext (what `age -d` prints). `cipher_size`, `cipher_sha256`: of the
    stored file. `meta`: what the layer returned (file list with SHA-256s, row counts, ...).
    """

    layer: str
    name: str
    kind: str
    encoding: str
    file: str
    size: int
    sha256: str
    cipher_size: int
    cipher_sha256: str
    started_at: str
    finished_at: str
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class LayerRecord:
    """A layer's outcome in one snapshot: `status` is `ok` or `failed` (with `error`)."""

    name: str
    status: str
    started_at: str
    finished_at: str
    error: str | None = None
    artifacts: list[str] = field(default_factory=list)


@dataclass
class Manifest:
    """Everything a snapshot holds and how it was made."""

    id: str
    site: str
    host: str
    started_at: str
    finished_at: str
    recipients: list[str]
    tools: dict[str, str]
    layers: dict[str, LayerRecord] = field(default_factory=dict)
    artifacts: list[ArtifactRecord] = field(default_factory=list)
    format: str = FORMAT

    @property
    def complete(self) -> bool:
        """True when every layer it ran succeeded."""
        return all(rec.status == "ok" for rec in self.layers.values())

    def to_bytes(self) -> bytes:
        """Deterministic JSON (sorted keys, 1-space indent, UTF-8, trailing newline)."""
        text = json.dumps(asdict(self), sort_keys=True, indent=1, ensure_ascii=False)
        return (text + "\n").encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes, what: str) -> Manifest:
        """Parse manifest bytes; `CorruptData` naming `what` if they are not a manifest."""
        try:
            raw = json.loads(data.decode("utf-8"))
            if raw.get("format") != FORMAT:
                raise ValueError(f"format {raw.get('format')!r}, expected {FORMAT!r}")
            layers = {k: LayerRecord(**v) for k, v in raw.pop("layers").items()}
            arts = [ArtifactRecord(**a) for a in raw.pop("artifacts")]
            return cls(layers=layers, artifacts=arts, **raw)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise CorruptData(f"{what}: not a valid manifest ({exc})") from exc

    def layer_artifacts(self, layer: str) -> list[ArtifactRecord]:
        """This snapshot's artifacts of `layer`, in write order."""
        return [a for a in self.artifacts if a.layer == layer]


def mac_document(snapshot_id: str, manifest: bytes, key: bytes) -> bytes:
    """The content of `manifest.mac` for `manifest` under the snapshot's MAC `key`."""
    doc = {
        "snapshot": snapshot_id,
        "manifest_sha256": hashlib.sha256(manifest).hexdigest(),
        "hmac_sha256": hmac.new(key, manifest, hashlib.sha256).hexdigest(),
    }
    return (json.dumps(doc, sort_keys=True, indent=1) + "\n").encode("ascii")


def check_digest(snapshot_id: str, manifest: bytes, mac_doc: bytes) -> dict[str, str]:
    """Check the manifest's plain SHA-256 against `manifest.mac`; return the parsed mac doc."""
    what = f"snapshot {snapshot_id}: {MAC}"
    try:
        doc = json.loads(mac_doc.decode("ascii"))
        digest, snap = str(doc["manifest_sha256"]), str(doc["snapshot"])
    except (ValueError, KeyError, TypeError) as exc:
        raise CorruptData(f"{what} is damaged ({exc})") from exc
    if snap != snapshot_id:
        raise CorruptData(f"{what} belongs to snapshot {snap}")
    if digest != hashlib.sha256(manifest).hexdigest():
        raise CorruptData(f"snapshot {snapshot_id}: {MANIFEST} does not match its SHA-256")
    return {k: str(v) for k, v in doc.items()}


def check_mac(snapshot_id: str, manifest: bytes, mac_doc: dict[str, str], key: bytes) -> None:
    """Check the manifest's HMAC with the unsealed `key`; `CorruptData` when it differs."""
    want = hmac.new(key, manifest, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, mac_doc.get("hmac_sha256", "")):
        raise CorruptData(f"snapshot {snapshot_id}: {MANIFEST} fails its HMAC (edited?)")


def seal_plaintext(snapshot_id: str, key: bytes) -> bytes:
    """What `seal.age` decrypts to."""
    return json.dumps({"snapshot": snapshot_id, "mac_key": key.hex()}).encode("ascii")


def unseal(snapshot_id: str, plaintext: bytes) -> bytes:
    """The MAC key from a decrypted seal; `CorruptData` if the seal is of another snapshot."""
    try:
        doc = json.loads(plaintext.decode("ascii"))
        snap, key = str(doc["snapshot"]), bytes.fromhex(doc["mac_key"])
    except (ValueError, KeyError, TypeError) as exc:
        raise CorruptData(f"snapshot {snapshot_id}: {SEAL} is damaged") from exc
    if snap != snapshot_id:
        raise CorruptData(f"snapshot {snapshot_id}: {SEAL} belongs to snapshot {snap}")
    return key
