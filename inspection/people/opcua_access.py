"""OPC UA security for every station endpoint and client (asyncua): encrypted channels, authenticated users,
role checks and an audit row for every write and method call.

A secured server offers Basic256Sha256, Aes128_Sha256_RsaOaep and Aes256_Sha256_RsaPss, each with Sign and
SignAndEncrypt, and no SecurityPolicy None. Its application certificate (RSA 2048, self-signed) is created
on first start under `pki_dir/own/`; client application certificates are accepted only when their DER file
is in `pki_dir/trusted/` (the trust list) and not revoked by a CRL in `pki_dir/crl/`; both folders are re-read
when their files change (no restart). Users log in with a station account (user name + password, the
same `Accounts.authenticate` as the console: throttled, audited) or an X.509 user certificate whose DER file
is `pki_dir/users/<account>.der`. Anonymous sessions are not offered.

Authorization happens per request in `StationRuleset.check_validity` (asyncua calls it before every
service): reads, browses and subscriptions need any account; a Write or Call needs the station action the
server maps that node or method to (e.g. SelectRecipe → `remote_job_change`, engineers); anything not
mapped is refused (results are read-only). Every Write and Call is audited, refused ones too.

`allow_insecure: true` switches all of it off (SecurityPolicy None, anonymous) and logs a warning at start:
only for a closed test cell or the simulators.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from asyncua import ua
from asyncua.crypto.permission_rules import PermissionRuleset, UserRole
from asyncua.crypto.permission_rules import User as UaUser
from asyncua.crypto.truststore import TrustStore
from asyncua.crypto.validator import CertificateValidator, CertificateValidatorOptions
from pydantic import Field, model_validator

from inspection.config import ConfigPath, StrictModel, default_data_dir

__all__ = ["SECURE_POLICIES", "ClientSecurity", "ReloadingValidator", "ServerSecurity", "StationRuleset", "StationUser",
           "TrustList",
           "secure_client", "secure_server"]

log = logging.getLogger(__name__)

_P = ua.SecurityPolicyType
SECURE_POLICIES = (
    _P.Basic256Sha256_Sign, _P.Basic256Sha256_SignAndEncrypt,
    _P.Aes128Sha256RsaOaep_Sign, _P.Aes128Sha256RsaOaep_SignAndEncrypt,
    _P.Aes256Sha256RsaPss_Sign, _P.Aes256Sha256RsaPss_SignAndEncrypt,
)
# Services any logged-in account may use: sessions, reading, browsing, subscriptions.
_READ_SERVICES = frozenset(ua.NodeId(i) for i in (
    ua.ObjectIds.CreateSessionRequest_Encoding_DefaultBinary, ua.ObjectIds.CloseSessionRequest_Encoding_DefaultBinary,
    ua.ObjectIds.ActivateSessionRequest_Encoding_DefaultBinary, ua.ObjectIds.ReadRequest_Encoding_DefaultBinary,
    ua.ObjectIds.BrowseRequest_Encoding_DefaultBinary, ua.ObjectIds.BrowseNextRequest_Encoding_DefaultBinary,
    ua.ObjectIds.GetEndpointsRequest_Encoding_DefaultBinary, ua.ObjectIds.FindServersRequest_Encoding_DefaultBinary,
    ua.ObjectIds.TranslateBrowsePathsToNodeIdsRequest_Encoding_DefaultBinary,
    ua.ObjectIds.CreateSubscriptionRequest_Encoding_DefaultBinary,
    ua.ObjectIds.ModifySubscriptionRequest_Encoding_DefaultBinary,
    ua.ObjectIds.DeleteSubscriptionsRequest_Encoding_DefaultBinary,
    ua.ObjectIds.TransferSubscriptionsRequest_Encoding_DefaultBinary,
    ua.ObjectIds.CreateMonitoredItemsRequest_Encoding_DefaultBinary,
    ua.ObjectIds.ModifyMonitoredItemsRequest_Encoding_DefaultBinary,
    ua.ObjectIds.DeleteMonitoredItemsRequest_Encoding_DefaultBinary,
    ua.ObjectIds.PublishRequest_Encoding_DefaultBinary, ua.ObjectIds.RepublishRequest_Encoding_DefaultBinary,
    ua.ObjectIds.CloseSecureChannelRequest_Encoding_DefaultBinary,
    ua.ObjectIds.SetMonitoringModeRequest_Encoding_DefaultBinary,
    ua.ObjectIds.SetPublishingModeRequest_Encoding_DefaultBinary,
    ua.ObjectIds.RegisterNodesRequest_Encoding_DefaultBinary,
    ua.ObjectIds.UnregisterNodesRequest_Encoding_DefaultBinary,
))
_WRITE = ua.NodeId(ua.ObjectIds.WriteRequest_Encoding_DefaultBinary)
_CALL = ua.NodeId(ua.ObjectIds.CallRequest_Encoding_DefaultBinary)


class ServerSecurity(StrictModel):
    """Security of an OPC UA server the station runs (see docs/security.md)."""

    allow_insecure: bool = Field(False, description="offer SecurityPolicy None and anonymous sessions, no role "
                                 "checks (a warning is logged at start); only for a closed test cell")
    pki_dir: ConfigPath | None = Field(None, description="own/ (certificate, key; created on first start), "
                                       "trusted/ (client certificates, DER/PEM), crl/ (revocation lists), "
                                       "users/ (<account>.der X.509 user certificates); trusted/ and crl/ are "
                                       "re-read when they change; default <data_dir>/opcua-pki/<server>")
    accounts_db: ConfigPath | None = Field(None, description="station database whose accounts log in and whose "
                                           "audit log records every write and call; default the station's")


class ClientSecurity(StrictModel):
    """Security of an OPC UA connection the station opens (PLC output, process port).

    Secure by default (Basic256Sha256, SignAndEncrypt, a client certificate created on first use). A peer
    that offers only SecurityPolicy None needs `allow_insecure: true`, which logs a warning on connect.
    """

    allow_insecure: bool = Field(False, description="connect with SecurityPolicy None (unencrypted, no client "
                                 "certificate; a warning is logged); only for a closed test cell or a simulator")
    policy: Literal["None", "Basic256Sha256", "Aes128_Sha256_RsaOaep", "Aes256_Sha256_RsaPss"] | None = Field(
        None, description="SecurityPolicy; empty = Basic256Sha256, or None when allow_insecure is set. "
                          "None itself needs allow_insecure: true")
    mode: Literal["Sign", "SignAndEncrypt"] = Field("SignAndEncrypt", description="message security mode")
    pki_dir: ConfigPath | None = Field(None, description="own/ client certificate + key (created on first use); "
                                       "default <data_dir>/opcua-pki/client")
    server_certificate: ConfigPath | None = Field(None, description="pin the server's certificate (DER); empty = "
                                                  "take it from the endpoint")
    username: str | None = Field(None, description="user name for the server; empty = anonymous")
    password_env: str = Field("STATION_OPCUA_PASSWORD", description="environment variable holding the password")

    @model_validator(mode="after")
    def _none_only_when_allowed(self) -> ClientSecurity:
        if self.policy == "None" and not self.allow_insecure:
            raise ValueError("policy None sends everything unencrypted and unauthenticated; choose Basic256Sha256 "
                             "(or an Aes policy) or, for a closed test cell only, set allow_insecure: true")
        return self

    @property
    def effective_policy(self) -> str:
        """The SecurityPolicy the client will use."""
        return self.policy or ("None" if self.allow_insecure else "Basic256Sha256")

    @classmethod
    def insecure(cls) -> ClientSecurity:
        """SecurityPolicy None, for the loopback simulators and tests."""
        return cls(allow_insecure=True)


@dataclass
class StationUser(UaUser):
    """An asyncua session user carrying the station account it logged in as."""

    account: Any = None  # inspection.auth.User


class _AccountsUserManager:
    """asyncua user manager: station accounts by password, or a registered X.509 user certificate."""

    def __init__(self, db: Path, users_dir: Path) -> None:
        self.db, self.users_dir = db, users_dir

    def get_user(self, iserver: Any, username: str | None = None, password: str | None = None,
                 certificate: Any = None) -> StationUser | None:
        from inspection.domain.permissions import AuthError, Role, User
        from inspection.people.accounts import Accounts
        from inspection.records.store import Store

        with Store(self.db) as store:
            accounts = Accounts(store)
            if username is not None:
                try:
                    account = accounts.authenticate(username, password or "")
                except AuthError as exc:
                    log.warning("OPC UA login refused for %r: %s", username, exc)
                    return None
                return StationUser(role=UserRole.User, name=account.username, account=account)
            if certificate is not None:
                from cryptography.hazmat.primitives.serialization import Encoding

                der = certificate.public_bytes(Encoding.DER) if hasattr(certificate, "public_bytes") else certificate
                for path in sorted(self.users_dir.glob("*.der")):
                    if path.read_bytes() == der:
                        rows = store.query("select role from users where username = ? and active = 1", [path.stem])
                        if rows:
                            account = User(path.stem, Role(rows[0]["role"]))
                            accounts._audit(account, "login", {"username": path.stem, "via": "x509"})
                            return StationUser(role=UserRole.User, name=path.stem, account=account)
                accounts._audit(None, "login_failed", {"reason": "unknown X.509 user certificate"}, allowed=False)
                return None
        return None  # anonymous: not offered


class StationRuleset(PermissionRuleset):
    """Per-request authorization: reads for any account; writes and calls by the station action mapped to
    the node or method, audited; everything else refused."""

    def __init__(self, db: Path, writes: Mapping[str, str], calls: Mapping[str, str], server: str) -> None:
        self.db, self.writes, self.calls, self.server = db, dict(writes), dict(calls), server

    def check_validity(self, user: Any, action_type_id: ua.NodeId, body: Any) -> bool:
        account = getattr(user, "account", None)
        if account is None:
            return False
        if action_type_id in _READ_SERVICES:
            return True
        if action_type_id not in (_WRITE, _CALL):
            return False  # AddNodes, DeleteNodes, history updates…: never over the network
        from asyncua.common.utils import Buffer
        from asyncua.ua.ua_binary import struct_from_binary

        try:  # parse a copy: the server parses the body again to run the request
            raw = body.copy() if isinstance(body, Buffer) else Buffer(bytes(body))
            if action_type_id == _WRITE:
                targets = [(self.writes, w.NodeId) for w in struct_from_binary(ua.WriteParameters, raw).NodesToWrite]
            else:
                targets = [(self.calls, c.MethodId) for c in struct_from_binary(ua.CallParameters, raw).MethodsToCall]
        except Exception:  # a request we cannot read is a request we do not run
            log.exception("OPC UA %s: unreadable request refused", self.server)
            return False
        return all(self._decide(account, table, node) for table, node in targets)

    def _decide(self, account: Any, table: Mapping[str, str], node: ua.NodeId) -> bool:
        from inspection.domain.permissions import allowed
        from inspection.people.audit import AuditLog
        from inspection.records.store import Store

        name = node.Identifier if isinstance(node.Identifier, str) else node.to_string()
        action = table.get(name)
        ok = action is not None and allowed(account, action)
        kind = "opcua_write" if table is self.writes else "opcua_call"
        try:
            with Store(self.db) as store:
                AuditLog(store).record(account, kind, {"server": self.server, "node": name,
                                                      "action": action or "not writable"}, allowed=ok)
        except Exception:  # an action nobody can audit does not happen
            log.exception("OPC UA %s: cannot audit %s on %s; refused", self.server, kind, name)
            return False
        return ok


def _pki(security: ServerSecurity | ClientSecurity, name: str) -> Path:
    root = Path(security.pki_dir) if security.pki_dir else default_data_dir() / "opcua-pki" / name
    for sub in ("own", "trusted", "crl", "users"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return root


def _folder_signature(folders: list[Path]) -> tuple[tuple[str, int, int], ...]:
    """Names, sizes and modification times of the files in `folders`: cheap to take, changes with any edit."""
    entries = []
    for folder in folders:
        with contextlib.suppress(OSError):
            for entry in os.scandir(folder):
                with contextlib.suppress(OSError):
                    info = entry.stat()
                    entries.append((entry.path, info.st_size, info.st_mtime_ns))
    return tuple(sorted(entries))


class TrustList(TrustStore):
    """asyncua's trust store, except that an empty trust list is allowed (first start: every client refused
    until the integrator adds one) instead of failing the server's start."""

    async def load_trust(self) -> None:
        if not any(p.suffix.lower() in (".der", ".pem") for folder in self.trust_locations if folder.is_dir()
                   for p in folder.iterdir()):
            self._trust_store = None  # is_trusted() is then False for every certificate
            return
        await super().load_trust()


class ReloadingValidator(CertificateValidator):
    """The server's certificate check, with the trust list (`trusted/`) and revocation lists (`crl/`) re-read
    when their files change: adding a client certificate or a CRL takes effect without a restart. The
    folders are looked at on a connection attempt, at most every `check_every_s` seconds."""

    def __init__(self, trust: TrustStore, check_every_s: float = 1.0) -> None:
        super().__init__(CertificateValidatorOptions.TRUSTED_VALIDATION | CertificateValidatorOptions.PEER_CLIENT,
                         trust)
        self.trust, self.check_every_s = trust, check_every_s
        self._signature: tuple[tuple[str, int, int], ...] | None = None
        self._checked = float("-inf")

    async def refresh(self) -> bool:
        """Re-read the folders if their files changed; True when they were re-read."""
        now = time.monotonic()
        if now - self._checked < self.check_every_s and self._signature is not None:
            return False
        self._checked = now
        signature = _folder_signature([*self.trust.trust_locations, *self.trust.crl_locations])
        if signature == self._signature:
            return False
        try:
            await self.trust.load()
        except (OSError, ValueError) as exc:
            if self._signature is None:  # at start: a clear error, not a server that trusts nobody
                from inspection.errors import ConfigError

                raise ConfigError(f"OPC UA trust list / CRL folder: unreadable certificate or CRL ({exc}); "
                                  "files in trusted/ and crl/ must be DER or PEM") from None
            log.error("OPC UA trust list / CRLs changed but cannot be read (%s); keeping the previous ones", exc)
            self._signature = signature  # do not retry every connection; the next edit is read again
            return False
        if self._signature is not None:
            log.warning("OPC UA trust list / CRLs changed on disk: reloaded (%d files)", len(signature))
        self._signature = signature
        return True

    async def validate(self, cert: Any, app_description: Any) -> None:
        await self.refresh()
        await super().validate(cert, app_description)


async def secure_server(server: Any, security: ServerSecurity, name: str, app_uri: str, db: Path | None,
                        writes: Mapping[str, str] | None = None, calls: Mapping[str, str] | None = None) -> None:
    """Apply `security` to an asyncua `Server` before `start()`; `writes`/`calls` map node/method ids
    (string identifiers) to the station action that may write/call them."""
    if security.allow_insecure:
        log.warning("OPC UA %s: SecurityPolicy None and anonymous access are ON (security.allow_insecure): "
                    "anyone who reaches %s can read and, where writable, change it. Only for a closed test cell",
                    name, server.endpoint.geturl() if hasattr(server.endpoint, "geturl") else server.endpoint)
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        # asyncua's default user manager makes any client that calls itself "admin" (any password) an
        # administrator who may write results and delete nodes: insecure is anonymous, never admin.
        server.allow_remote_admin(False)
        return
    from asyncua.crypto.cert_gen import setup_self_signed_certificate
    from cryptography.x509.oid import ExtendedKeyUsageOID

    db = Path(security.accounts_db) if security.accounts_db else db
    if db is None:
        from inspection.errors import ConfigError

        raise ConfigError(f"OPC UA {name}: no accounts database for user logins; set security.accounts_db or "
                          "security.allow_insecure: true (test cells only)")
    pki = _pki(security, name)
    key, cert = pki / "own" / "key.pem", pki / "own" / "cert.der"
    await server.set_application_uri(app_uri)
    await setup_self_signed_certificate(key, cert, app_uri, socket.gethostname(),
                                        [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
                                        {"commonName": name, "organizationName": "inspection-station"})
    await server.load_certificate(str(cert))
    await server.load_private_key(str(key))
    ruleset = StationRuleset(db, writes or {}, calls or {}, name)
    server.set_security_policy(list(SECURE_POLICIES), permission_ruleset=ruleset)
    server.set_identity_tokens([ua.UserNameIdentityToken, ua.X509IdentityToken])
    server.iserver.set_user_manager(_AccountsUserManager(db, pki / "users"))
    validator = ReloadingValidator(TrustList([pki / "trusted"], [pki / "crl"]))
    await validator.refresh()
    server.set_certificate_validator(validator)


_POLICY_CLASSES = {"Basic256Sha256": "SecurityPolicyBasic256Sha256",
                   "Aes128_Sha256_RsaOaep": "SecurityPolicyAes128Sha256RsaOaep",
                   "Aes256_Sha256_RsaPss": "SecurityPolicyAes256Sha256RsaPss"}


async def secure_client(client: Any, security: ClientSecurity | None, what: str) -> None:
    """Apply `security` (default: secure) to an asyncua `Client` before `connect()`."""
    import os

    security = security or ClientSecurity()
    if security.effective_policy == "None":
        log.warning("OPC UA %s: SecurityPolicy None (security.allow_insecure): unencrypted and unauthenticated; "
                    "keep that peer inside the cell network", what)
    else:
        from asyncua.crypto import security_policies

        pki = _pki(security, "client")
        cert, key = await client.setup_self_signed_certificate(pki / "own" / "key.pem", pki / "own" / "cert.der")
        try:
            await client.set_security(getattr(security_policies, _POLICY_CLASSES[security.effective_policy]),
                                      str(cert), str(key), server_certificate=str(security.server_certificate)
                                      if security.server_certificate else None,
                                      mode=getattr(ua.MessageSecurityMode, security.mode))
        except ua.UaError as exc:
            if "No matching endpoints" not in str(exc):
                raise
            raise ConnectionError(
                f"the server offers no {security.effective_policy} {security.mode} endpoint; set security.policy/"
                "mode to one it offers, or for a simulator or closed test cell security.allow_insecure: true"
            ) from exc
    if security.username:
        client.set_user(security.username)
        client.set_password(os.environ.get(security.password_env, ""))
