"""Ed25519 signatures of model files, and the trust store a station checks them against.

A signature is a small JSON file beside the model (`<model>.sig`): the file's SHA-256, the signer's key id
and the Ed25519 signature of `inspection-station model v1\\n<sha256>`. It proves *who* vouched for these
exact bytes; `inspection.inference.model_files` separately proves the bytes cannot run code.

Keys: the private key is a PEM file kept outside the model registry (an attacker who can write the
registry must not be able to sign); the public key (`<key>.pub`) goes into each station's trust store, a
folder of `*.pub` files named in the station YAML (`security.model_trust_store`). With a trust store set, a
model without a valid signature by one of those keys is refused before it is read.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from inspection.errors import ModelError

__all__ = ["SIGNATURE_SUFFIX", "Signature", "SignatureError", "generate_key", "key_id", "load_trust_store",
           "require_trusted", "sign_model", "signature_path", "trusted_by_key", "verify_model"]

SIGNATURE_SUFFIX = ".sig"
_FORMAT = "inspection-station-model-signature/1"
_CONTEXT = b"inspection-station model v1\n"


class SignatureError(ModelError):
    """A model's signature is missing, malformed, by an untrusted key, or does not match the file."""


@dataclass(frozen=True, slots=True)
class Signature:
    sha256: str
    key_id: str
    signature: str  # base64

    def to_json(self) -> str:
        return json.dumps({"format": _FORMAT, "sha256": self.sha256, "key_id": self.key_id,
                           "signature": self.signature}, sort_keys=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def signature_path(model: Path) -> Path:
    return Path(f"{model}{SIGNATURE_SUFFIX}")


def generate_key(path: Path) -> Path:
    """Write a new private key (PEM, mode 0600) at `path` and its public key at `path.pub`; returns the latter."""
    path = Path(path)
    if path.exists():
        raise SignatureError(f"{path} exists; refusing to overwrite a signing key (move it away first)")
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    public = Path(f"{path}.pub")
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return public


def _private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise SignatureError(f"signing key {path}: cannot read it ({exc}); create one with "
                             "`station models keygen KEY`") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError(f"signing key {path}: not an Ed25519 key")
    return key


def trusted_by_key(key_path: Path) -> dict[str, Ed25519PublicKey]:
    """The one-key trust store of a private key: "signed by this key" as `verify_model` checks it."""
    public = _private_key(Path(key_path)).public_key()
    return {key_id(public): public}


def sign_model(model: Path, key_path: Path, forbidden_dir: Path | None = None) -> Path:
    """Sign `model` with the private key at `key_path`; writes and returns `<model>.sig`.

    `forbidden_dir` (the registry folder) may not hold the key: whoever writes there could sign."""
    model, key_path = Path(model), Path(key_path)
    if forbidden_dir is not None and key_path.resolve().is_relative_to(Path(forbidden_dir).resolve()):
        raise SignatureError(f"signing key {key_path} is inside {forbidden_dir}: keep it outside the model "
                             "registry (anyone who can write the registry could sign with it)")
    key = _private_key(key_path)
    sha = _sha256(model)
    signature = Signature(sha, key_id(key.public_key()),
                          base64.b64encode(key.sign(_CONTEXT + sha.encode())).decode())
    out = signature_path(model)
    out.write_text(signature.to_json() + "\n")
    return out


def load_trust_store(folder: Path) -> dict[str, Ed25519PublicKey]:
    """The trusted public keys (`*.pub` PEM files in `folder`) by key id."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SignatureError(f"model trust store {folder} is not a folder; create it and copy the signers' "
                             "`.pub` files into it")
    keys: dict[str, Ed25519PublicKey] = {}
    for pub in sorted(folder.glob("*.pub")):
        try:
            key = serialization.load_pem_public_key(pub.read_bytes())
        except ValueError as exc:
            raise SignatureError(f"trust store {folder}: {pub.name} is not a PEM public key ({exc})") from None
        if not isinstance(key, Ed25519PublicKey):
            raise SignatureError(f"trust store {folder}: {pub.name} is not an Ed25519 public key")
        keys[key_id(key)] = key
    if not keys:
        raise SignatureError(f"model trust store {folder} holds no `.pub` key: every model would be refused")
    return keys


def _read_signature(model: Path) -> Signature:
    path = signature_path(model)
    if not path.is_file():
        raise SignatureError(f"{model} is not signed (no {path.name}); sign it with `station models sign` "
                             "using a key in the station's trust store")
    try:
        data = json.loads(path.read_text()[:4096])
        if data.get("format") != _FORMAT:
            raise ValueError(f"format {data.get('format')!r}")
        return Signature(str(data["sha256"]), str(data["key_id"]), str(data["signature"]))
    except (ValueError, KeyError, AttributeError) as exc:
        raise SignatureError(f"{path}: not a model signature ({exc})") from None


def verify_model(model: Path, trusted: dict[str, Ed25519PublicKey]) -> str:
    """Check `model` against its signature and the trusted keys; returns the signer's key id."""
    model = Path(model)
    signature = _read_signature(model)
    key = trusted.get(signature.key_id)
    if key is None:
        raise SignatureError(f"{model} is signed by key {signature.key_id}, which is not in the station's "
                             "trust store; refusing it (add that key's .pub only if you trust its owner)")
    sha = _sha256(model)
    try:
        if sha != signature.sha256:
            raise InvalidSignature
        key.verify(base64.b64decode(signature.signature, validate=True), _CONTEXT + sha.encode())
    except (InvalidSignature, ValueError):
        raise SignatureError(f"{model}: signature does not match the file (changed after signing?); "
                             "refusing it") from None
    return signature.key_id


def require_trusted(model: Path, trust_store: Path | None) -> None:
    """The station's policy: without a trust store any model passes here (the safe-load check still applies);
    with one, only models signed by a trusted key."""
    if trust_store is not None:
        verify_model(model, load_trust_store(trust_store))
