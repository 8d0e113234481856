"""`Emulator`: a seeded fake Freshdesk account served by uvicorn on loopback, in a background thread."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import uvicorn

from .gate import ApiGate
from .desk import Clock, Desk
from .faults import FaultConfig, FaultInjector
from .latency import Latency
from .ratelimit import RateLimiter
from .stats import Stats

UTC = dt.UTC


_HOSTNAME = re.compile(r"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def _sans(host: str, hostnames: Iterable[str]) -> list[str]:
    """The server certificate's names: localhost, 127.0.0.1, the bound host and any extra names."""
    out = ["localhost", "127.0.0.1"]
    for raw in (host, *hostnames):
        name = raw.strip().lower().rstrip(".")
        if name in ("0.0.0.0", "::") or name in out:
            continue
        try:
            ipaddress.ip_address(name)
        except ValueError:
            if not _HOSTNAME.match(name) or len(name) > 253:
                raise ValueError(f"not a host name a certificate can name: {raw!r}") from None
        out.append(name)
    return out


def _general_name(name: str):
    from cryptography import x509

    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _cert_names(cert_file: Path) -> set[str]:
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {*sans.get_values_for_type(x509.DNSName), *(str(ip) for ip in sans.get_values_for_type(x509.IPAddress))}


def _write_key(path: Path, key) -> None:
    """A private key as unencrypted PKCS#8 PEM, readable by its owner only from the first byte."""
    from cryptography.hazmat.primitives import serialization

    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))


def write_self_signed(cert_dir: Path, host: str = "127.0.0.1",
                      hostnames: Iterable[str] = ()) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate it signs (SANs: localhost, 127.0.0.1, host, hostnames).

    Returns (ca_file, cert_file, key_file). The CA in `cert_dir` is kept across restarts so a
    client's trust in it survives; the server certificate is reissued by that CA when it lacks a
    requested name. A separate CA (not a self-signed leaf) keeps strict X.509 verification happy.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    names = _sans(host, hostnames)
    cert_dir.mkdir(parents=True, exist_ok=True)
    ca_file, ca_key_file = cert_dir / "ca.pem", cert_dir / "ca-key.pem"
    cert_file, key_file = cert_dir / "server.pem", cert_dir / "server-key.pem"
    if ca_file.exists() and cert_file.exists() and key_file.exists() and set(names) <= _cert_names(cert_file):
        return ca_file, cert_file, key_file
    now = dt.datetime.now(UTC)
    if ca_file.exists() and ca_key_file.exists():
        ca = x509.load_pem_x509_certificate(ca_file.read_bytes())
        ca_key = serialization.load_pem_private_key(ca_key_file.read_bytes(), password=None)
        ca_name = ca.subject
    else:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fd-pipeline emulator CA")])
        ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
              .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650))
              .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
              .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                           content_commitment=False, key_encipherment=False,
                                           data_encipherment=False, key_agreement=False, encipher_only=False,
                                           decipher_only=False), critical=True)
              .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
              .sign(ca_key, hashes.SHA256()))
        ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        _write_key(ca_key_file, ca_key)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=825))
            .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key_file, key)
    return ca_file, cert_file, key_file


class Emulator:
    """A fake Freshdesk account over real HTTP(S). Data is generated at construction;
    `start()` / `with emu:` serves it on `host` (loopback by default), `port=0` = a free port."""

    def __init__(self, seed: int = 7, tickets: int = 300, articles: int = 40, now: dt.datetime | None = None,
                 span_hours: float = 24.0, plan: str = "enterprise", rate_window_s: float = 60.0,
                 api_key: str = "emu-key", faults: FaultConfig | None = None, tls: bool = False, port: int = 0,
                 *, host: str = "127.0.0.1", cert_dir: str | Path | None = None,
                 restricted_api_key: str | None = "emu-restricted-key", clock_running: bool = False,
                 deleted_share: float = 0.03, spam_share: float = 0.02, tls_hostnames: Iterable[str] = (),
                 latency_ms: float = 0.0, jitter_ms: float = 0.0) -> None:
        self.seed, self.host, self.port, self.tls = seed, host, port, tls
        self.tls_hostnames = tuple(tls_hostnames)
        _sans(host, self.tls_hostnames)  # a name no certificate can carry fails here, not at start()
        self.api_key = api_key
        self.restricted_api_key = restricted_api_key
        self.clock = Clock(now, running=clock_running)
        self.desk = Desk(seed=seed, tickets=tickets, articles=articles, clock=self.clock, span_hours=span_hours,
                         deleted_share=deleted_share, spam_share=spam_share)
        self.stats = Stats()
        self.rate_limiter = RateLimiter(plan, rate_window_s)
        self.fault_config = faults or FaultConfig()
        self.injector = FaultInjector(self.fault_config)
        self.latency = Latency(latency_ms, jitter_ms, seed=seed)
        self._cert_dir = Path(cert_dir) if cert_dir else None
        self._own_cert_dir: str | None = None
        self.ca_file: str | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    def __repr__(self) -> str:  # no api key in reprs
        state = self.base_url if self._server else "stopped"
        return f"Emulator(seed={self.seed}, tickets={len(self.desk.tickets)}, {state})"

    @property
    def base_url(self) -> str:
        scheme = "https" if self.tls else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    def start(self) -> Emulator:
        if self._server is not None:
            return self
        ssl_kw = {}
        if self.tls:
            if self._cert_dir is None:
                self._own_cert_dir = tempfile.mkdtemp(prefix="fd-emu-tls-")
                self._cert_dir = Path(self._own_cert_dir)
            ca, cert, key = write_self_signed(self._cert_dir, self.host, self.tls_hostnames)
            self.ca_file = str(ca)
            ssl_kw = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(ApiGate(self), log_level="warning", access_log=False, lifespan="off",
                                timeout_graceful_shutdown=1, timeout_keep_alive=30, **ssl_kw)
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                                        name=f"fd-emulator-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._server = None
                sock.close()
                raise RuntimeError("the emulator's server did not start")
            time.sleep(0.01)
        self._sock = sock
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.should_exit = True
            if thread is not None:
                thread.join(timeout=10)
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._own_cert_dir:
            shutil.rmtree(self._own_cert_dir, ignore_errors=True)
            self._own_cert_dir = None
            self._cert_dir = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def set_faults(self, faults: FaultConfig | None) -> None:
        """Replace the fault plan; its request counter and random stream start afresh."""
        self.fault_config = faults or FaultConfig()
        self.injector = FaultInjector(self.fault_config)

    def set_latency(self, latency_ms: float, jitter_ms: float = 0.0) -> None:
        """Delay every API answer by `latency_ms` ± `jitter_ms` (uniform); 0 and 0 turn it off."""
        self.latency.set(latency_ms, jitter_ms)

    @property
    def ground_truth(self) -> dict[int, int]:
        return self.desk.ground_truth

    @property
    def same_fix(self) -> dict[int, frozenset[int]]:
        return self.desk.same_fix

    # Each mutation sets updated_at to clock.now().
    def create_ticket(self, subject: str, description: str = "", **fields) -> int:
        return self.desk.create_ticket(subject, description, **fields)

    def update_ticket(self, tid: int, **fields) -> None:
        self.desk.update_ticket(tid, **fields)

    def add_conversation(self, tid: int, body: str, incoming: bool = False, private: bool = False,
                         **fields) -> int:
        return self.desk.add_conversation(tid, body, incoming=incoming, private=private, **fields)

    def resolve_ticket(self, tid: int, body: str | None = None) -> None:
        self.desk.resolve_ticket(tid, body)

    def delete_ticket(self, tid: int) -> None:
        self.desk.delete_ticket(tid)

    def spam_ticket(self, tid: int) -> None:
        self.desk.spam_ticket(tid)

    def restore_ticket(self, tid: int) -> None:
        self.desk.restore_ticket(tid)

    def corrupt_ticket(self, tid: int, how: str = "bad_field") -> None:
        self.desk.corrupt_ticket(tid, how)

    def repair_ticket(self, tid: int) -> None:
        self.desk.repair_ticket(tid)

    def mutate_random(self, fraction: float = 0.05, seed: int = 1) -> list[int]:
        return self.desk.mutate_random(fraction, seed)

    def edit_article(self, aid: int, language: str | None = None, **fields) -> None:
        self.desk.edit_article(aid, language, **fields)

    def unpublish_article(self, aid: int) -> None:
        self.desk.unpublish_article(aid)

    def publish_article(self, aid: int) -> None:
        self.desk.publish_article(aid)

    def move_article(self, aid: int, folder_id: int) -> None:
        self.desk.move_article(aid, folder_id)

    def delete_article(self, aid: int) -> None:
        self.desk.delete_article(aid)

    def add_article(self, folder_id: int, title: str, description: str, **fields) -> int:
        return self.desk.add_article(folder_id, title, description, **fields)

    def add_category(self, name: str, description: str | None = None, **fields) -> int:
        return self.desk.add_category(name, description, **fields)

    def add_folder(self, name: str, **fields) -> int:
        """A top-level folder (`category_id=`) or a subfolder (`parent_folder_id=`)."""
        return self.desk.add_folder(name, **fields)
