"""The station's OPC UA server under attack, with real asyncua clients over 127.0.0.1.

One server, a handful of connections (RSA-2048 handshakes are CPU-heavy): no security refused, an untrusted
client certificate refused, an operator may read but not change the job, an engineer may, and every call
is in the audit log."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from asyncua import Client, ua
from asyncua.crypto import security_policies

from inspection.domain.permissions import Role
from inspection.outputs.opcua_server import NAMESPACE, Options, StationServer
from inspection.outputs.plc_sim import free_port
from inspection.people.accounts import Accounts
from inspection.people.audit import AuditLog
from inspection.records.store import Store

pytestmark = pytest.mark.plc


async def _client_pair(folder: Path) -> tuple[Path, Path]:
    client = Client("opc.tcp://127.0.0.1:1/")
    return await client.setup_self_signed_certificate(folder / "key.pem", folder / "cert.der")


async def _select(url: str, cert: tuple[Path, Path] | None, user: str | None, password: str | None,
                  policy=security_policies.SecurityPolicyBasic256Sha256,
                  mode=ua.MessageSecurityMode.SignAndEncrypt,
                  arguments: tuple[object, ...] = (ua.Variant(7, ua.VariantType.Int32), "LOT-X"),
                  ) -> tuple[str, bool | None]:
    """Connect, read the job number, call SelectRecipe(*arguments): (what was read, the call's answer)."""
    client = Client(url, timeout=10)
    if cert is not None:
        await client.set_security(policy, str(cert[0]), str(cert[1]), mode=mode)
    if user:
        client.set_user(user)
        client.set_password(password or "")
    async with client:
        idx = await client.get_namespace_index(NAMESPACE)
        state = await client.get_node(ua.NodeId("VisionSystem.CurrentState", idx)).read_value()
        method = client.get_node(ua.NodeId("VisionSystem.SelectRecipe", idx))
        try:
            answer = await (await method.get_parent()).call_method(method, *arguments)
        except ua.uaerrors.BadUserAccessDenied:
            answer = None
        return state, answer


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    root = tmp_path_factory.mktemp("opcua")
    db = root / "station.db"
    with Store(db) as store:
        accounts = Accounts(store)
        admin = accounts.create("alice", Role.ADMIN, "alice-secret")
        accounts.create("ed", Role.ENGINEER, "ed-secret", by=admin)
        accounts.create("olga", Role.OPERATOR, "olga-secret", by=admin)
    trusted_pair = asyncio.run(_client_pair(root / "client"))
    stranger_pair = asyncio.run(_client_pair(root / "stranger"))
    pki = root / "pki"
    (pki / "trusted").mkdir(parents=True)
    shutil.copy(trusted_pair[0], pki / "trusted" / "scada.der")  # the integrator adds the SCADA's certificate
    server = StationServer(Options(port=free_port(), security={"pki_dir": pki}, start_timeout_s=60.0), db_path=db)
    chosen: list[tuple[int, str]] = []
    server.recipe_listeners.append(lambda job, lot: chosen.append((job, lot)))
    with server:
        yield server, db, trusted_pair, stranger_pair, chosen, pki


def test_certificate_created_on_first_start_and_no_insecure_endpoint(secured):
    server, _, _, _, _, pki = secured
    assert (pki / "own" / "cert.der").is_file() and (pki / "own" / "key.pem").is_file()

    async def endpoints():
        async with Client(server.url, timeout=10) as client:  # discovery works without security…
            return await client.get_endpoints()

    with pytest.raises(Exception):  # noqa: B017 - …but a session does not (no None endpoint)
        asyncio.run(endpoints())
    offered = {(e.SecurityPolicyUri.rsplit("#", 1)[1], e.SecurityMode.name)
               for e in asyncio.run(Client(server.url, timeout=10).connect_and_get_server_endpoints())}
    assert offered == {(p, m) for p in ("Basic256Sha256", "Aes128_Sha256_RsaOaep", "Aes256_Sha256_RsaPss")
                       for m in ("Sign", "SignAndEncrypt")}


def test_untrusted_client_certificate_is_refused(secured):
    server, _, _, stranger, chosen, _ = secured
    with pytest.raises(Exception):  # noqa: B017 - BadCertificateUntrusted / connection closed
        asyncio.run(_select(server.url, stranger, "ed", "ed-secret"))
    assert chosen == []


def test_wrong_password_is_refused_and_audited(secured):
    server, db, trusted, _, chosen, _ = secured
    with pytest.raises(Exception):  # noqa: B017 - BadUserAccessDenied at ActivateSession
        asyncio.run(_select(server.url, trusted, "ed", "guess"))
    with Store(db) as store:
        assert any(e["action"] == "login_failed" and '"ed"' in e["detail"] for e in AuditLog(store).entries())
    assert chosen == []


def test_operator_reads_but_may_not_change_the_job(secured):
    server, db, trusted, _, chosen, _ = secured
    state, answer = asyncio.run(_select(server.url, trusted, "olga", "olga-secret",
                                        security_policies.SecurityPolicyAes128Sha256RsaOaep,
                                        ua.MessageSecurityMode.Sign))
    assert state == "Ready" and answer is None and chosen == []
    with Store(db) as store:
        rows = [e for e in AuditLog(store).entries() if e["action"] == "opcua_call"]
    assert rows[0]["username"] == "olga" and rows[0]["allowed"] == 0 and "SelectRecipe" in rows[0]["detail"]


async def _overwrite_verdict(url: str, cert: tuple[Path, Path], user: str, password: str) -> str:
    client = Client(url, timeout=10)
    await client.set_security(security_policies.SecurityPolicyBasic256Sha256, str(cert[0]), str(cert[1]))
    client.set_user(user)
    client.set_password(password)
    async with client:
        idx = await client.get_namespace_index(NAMESPACE)
        node = client.get_node(ua.NodeId("VisionSystem.Verdict", idx))
        try:
            await node.write_value(ua.Variant("PASS", ua.VariantType.String))
        except ua.UaStatusCodeError as exc:
            return type(exc).__name__
        return "written"


def test_results_are_read_only_even_for_an_admin(secured):
    server, db, trusted, _, _, _ = secured
    assert asyncio.run(_overwrite_verdict(server.url, trusted, "alice", "alice-secret")) == "BadUserAccessDenied"
    with Store(db) as store:
        rows = [e for e in AuditLog(store).entries() if e["action"] == "opcua_write"]
    assert rows[0]["username"] == "alice" and rows[0]["allowed"] == 0 and "VisionSystem.Verdict" in rows[0]["detail"]


def test_engineer_changes_the_job_and_it_is_audited(secured):
    server, db, trusted, _, chosen, _ = secured
    _state, answer = asyncio.run(_select(server.url, trusted, "ed", "ed-secret",
                                        security_policies.SecurityPolicyAes256Sha256RsaPss))
    assert answer is True and chosen == [(7, "LOT-X")]
    with Store(db) as store:
        rows = [e for e in AuditLog(store).entries() if e["action"] == "opcua_call"]
    assert rows[0]["username"] == "ed" and rows[0]["allowed"] == 1 and "remote_job_change" in rows[0]["detail"]


V = ua.VariantType


@pytest.mark.parametrize("arguments", [
    (ua.Variant("7", V.String), "LOT"),  # a job number as text
    (ua.Variant(7.9, V.Double), "LOT"),
    (ua.Variant(True, V.Boolean), "LOT"),  # would have been job 1
    (ua.Variant([7, 8], V.Int32), "LOT"),
    (ua.Variant(7, V.Int32),),
    (ua.Variant(7, V.Int32), "LOT", "extra"),
    (ua.Variant(7, V.Int32), ua.Variant(5, V.Int32)),
    (ua.Variant(7, V.Int32), "X" * 100_000),  # a lot name of 100 kB
    (ua.Variant(7, V.Int32), "L\nERROR forged log line\x1b[2J"),
], ids=["text", "double", "boolean", "array", "one", "three", "lot-int", "lot-100kB", "lot-control"])
def test_select_recipe_refuses_wrong_arguments_without_calling_the_station(secured, arguments):
    server, _, trusted, _, chosen, _ = secured
    chosen.clear()
    with pytest.raises(ua.uaerrors.BadInvalidArgument):
        asyncio.run(_select(server.url, trusted, "ed", "ed-secret", arguments=arguments))
    assert chosen == []


def test_insecure_needs_the_explicit_switch_and_warns(caplog):
    server = StationServer(Options(port=free_port(), security={"allow_insecure": True}, start_timeout_s=60.0))
    with caplog.at_level("WARNING"), server:
        assert asyncio.run(_select(server.url, None, None, None))[1] is True
    assert "SecurityPolicy None and anonymous access are ON" in caplog.text


def test_insecure_mode_gives_no_one_admin_rights_for_the_name_admin():
    """asyncua's default user manager makes any client calling itself "admin" an administrator (any
    password): on an insecure test server that would let it overwrite results and delete nodes."""
    server = StationServer(Options(port=free_port(), security={"allow_insecure": True}, start_timeout_s=60.0))

    async def try_as_admin() -> list[str]:
        client = Client(server.url, timeout=10)
        client.set_user("admin")
        client.set_password("anything")
        outcomes = []
        async with client:
            idx = await client.get_namespace_index(NAMESPACE)
            verdict = client.get_node(ua.NodeId("VisionSystem.Verdict", idx))
            for attempt in (lambda: verdict.write_value(ua.Variant("PASS", V.String)),
                            lambda: client.delete_nodes([verdict])):
                try:
                    await attempt()
                    outcomes.append("accepted")
                except ua.UaStatusCodeError as exc:
                    outcomes.append(type(exc).__name__)
        return outcomes

    with server:
        assert asyncio.run(try_as_admin()) == ["BadUserAccessDenied", "BadUserAccessDenied"]


def test_twin_and_process_client_use_the_same_security(tmp_path, monkeypatch):
    """The process port (OPC UA client) logs in with a certificate and an account; the secured twin lets an
    engineer write a setpoint (audited) and refuses an operator."""
    from inspection.people.opcua_access import ClientSecurity, ServerSecurity
    from inspection.process import ProcessError
    from inspection.process.opcua_client import OpcUaProcess
    from inspection.process.opcua_client import Options as ClientOptions
    from inspection.simulation.twin import ProcessTwin
    from inspection.simulation.twin_server import TwinServer

    db = tmp_path / "station.db"
    with Store(db) as store:
        accounts = Accounts(store)
        admin = accounts.create("alice", Role.ADMIN, "alice-secret")
        accounts.create("ed", Role.ENGINEER, "ed-secret", by=admin)
        accounts.create("olga", Role.OPERATOR, "olga-secret", by=admin)
    client_pki, server_pki = tmp_path / "client-pki", tmp_path / "server-pki"
    cert, _ = asyncio.run(_client_pair(client_pki / "own"))
    (server_pki / "trusted").mkdir(parents=True)
    shutil.copy(cert, server_pki / "trusted" / "station.der")
    twin = ProcessTwin("paint")
    name, info = next(iter(twin.parameters().items()))
    target = (info.low + info.high) / 2
    with TwinServer(twin, port=free_port(), timeout_s=60.0, security=ServerSecurity(pki_dir=server_pki),
                    db_path=db) as server:
        def options(user: str) -> ClientOptions:
            return ClientOptions(url=server.endpoint, timeout_s=10.0, security=ClientSecurity(
                policy="Basic256Sha256", pki_dir=client_pki, username=user, password_env="TEST_OPCUA_PW"))

        monkeypatch.setenv("TEST_OPCUA_PW", "olga-secret")
        with OpcUaProcess(options("olga")) as port, pytest.raises(ProcessError):
            port.write_setpoints({name: target})
        monkeypatch.setenv("TEST_OPCUA_PW", "ed-secret")
        with OpcUaProcess(options("ed")) as port:
            port.write_setpoints({name: target})
            assert port.read_setpoints()[name] == pytest.approx(target)
    with Store(db) as store:
        writes = [(e["username"], e["allowed"]) for e in AuditLog(store).entries() if e["action"] == "opcua_write"]
    assert ("olga", 0) in writes and ("ed", 1) in writes


def test_x509_user_certificate_logs_in_as_its_account(secured, tmp_path):
    server, db, trusted, _, chosen, pki = secured
    user_cert, user_key = asyncio.run(_client_pair(tmp_path / "ed-user"))
    stranger_cert, stranger_key = asyncio.run(_client_pair(tmp_path / "nobody-user"))
    shutil.copy(user_cert, pki / "users" / "ed.der")  # registered as account `ed` (engineer)

    async def select_as(cert: Path, key: Path) -> bool:
        client = Client(server.url, timeout=10)
        await client.set_security(security_policies.SecurityPolicyBasic256Sha256, str(trusted[0]), str(trusted[1]))
        await client.load_client_certificate(str(cert))
        await client.load_private_key(key)
        async with client:
            idx = await client.get_namespace_index(NAMESPACE)
            method = client.get_node(ua.NodeId("VisionSystem.SelectRecipe", idx))
            return await (await method.get_parent()).call_method(method, ua.Variant(8, ua.VariantType.Int32), "L8")

    before = len(chosen)
    with pytest.raises(Exception):  # noqa: B017 - BadUserAccessDenied: certificate not registered
        asyncio.run(select_as(stranger_cert, stranger_key))
    assert asyncio.run(select_as(user_cert, user_key)) is True and chosen[before:] == [(8, "L8")]
    with Store(db) as store:
        rows = [e for e in AuditLog(store).entries() if e["action"] == "opcua_call"]
    assert rows[0]["username"] == "ed" and rows[0]["allowed"] == 1


def test_station_clients_are_secure_unless_told_otherwise(tmp_path, caplog):
    """The PLC output and the process port default to Basic256Sha256; SecurityPolicy None needs the switch,
    and a secure client meeting a None-only server fails with a message, never silently downgrades."""
    import pydantic

    from inspection.outputs import opcua
    from inspection.outputs.opcua_sim import OpcUaSim
    from inspection.people.opcua_access import ClientSecurity
    from inspection.process.opcua_client import Options as ProcessOptions

    assert ClientSecurity().effective_policy == "Basic256Sha256"
    assert opcua.Options().security.effective_policy == "Basic256Sha256"
    assert ProcessOptions(url="opc.tcp://plc:4840/").security.effective_policy == "Basic256Sha256"
    assert ClientSecurity.insecure().effective_policy == "None"
    with pytest.raises(pydantic.ValidationError, match="set allow_insecure: true"):
        ClientSecurity(policy="None")
    with pytest.raises(pydantic.ValidationError, match="set allow_insecure: true"):
        opcua.Options(security={"policy": "None"})

    with OpcUaSim(port=free_port()) as sim:
        secure = opcua.Options(port=sim.port, timeout_s=1.0, connect_timeout_s=5.0,
                               security={"pki_dir": str(tmp_path / "pki")})
        with opcua.create(secure) as out:
            assert not out.connected and "offers no Basic256Sha256 SignAndEncrypt endpoint" in out.last_error
            assert "allow_insecure: true" in out.last_error
        with caplog.at_level("WARNING"), opcua.create(opcua.Options(
                port=sim.port, timeout_s=1.0, connect_timeout_s=5.0, security={"allow_insecure": True})) as out:
            assert out.connected, out.last_error
        assert "SecurityPolicy None (security.allow_insecure)" in caplog.text


def test_trust_list_and_crl_changes_take_effect_without_a_restart(tmp_path):
    """An integrator adds the SCADA's certificate to trusted/ on a running station: admitted; later a CRL
    in crl/ revokes it: refused; no restart either time."""
    import datetime as dt
    import time

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    db = tmp_path / "station.db"
    with Store(db) as store:
        accounts = Accounts(store)
        accounts.create("ed", Role.ENGINEER, "ed-secret", by=accounts.create("alice", Role.ADMIN, "alice-secret"))
    cert, key = asyncio.run(_client_pair(tmp_path / "scada"))
    pki = tmp_path / "pki"
    server = StationServer(Options(port=free_port(), security={"pki_dir": pki}, start_timeout_s=60.0), db_path=db)
    with server:
        with pytest.raises(Exception):  # noqa: B017 - not in the trust list yet
            asyncio.run(_select(server.url, (cert, key), "ed", "ed-secret"))
        shutil.copy(cert, pki / "trusted" / "scada.der")
        time.sleep(1.1)  # the folders are looked at once a second at most
        assert asyncio.run(_select(server.url, (cert, key), "ed", "ed-secret"))[1] is True

        certificate = x509.load_der_x509_certificate(cert.read_bytes())
        signer = serialization.load_pem_private_key(key.read_bytes(), password=None)
        now = dt.datetime.now(dt.UTC)
        revoked = x509.RevokedCertificateBuilder().serial_number(certificate.serial_number) \
            .revocation_date(now).build()
        crl = x509.CertificateRevocationListBuilder().issuer_name(certificate.issuer).last_update(now) \
            .next_update(now + dt.timedelta(days=1)).add_revoked_certificate(revoked) \
            .sign(signer, hashes.SHA256())  # type: ignore[arg-type]
        (pki / "crl" / "revoked.der").write_bytes(crl.public_bytes(serialization.Encoding.DER))
        time.sleep(1.1)
        with pytest.raises(Exception):  # noqa: B017 - revoked
            asyncio.run(_select(server.url, (cert, key), "ed", "ed-secret"))
