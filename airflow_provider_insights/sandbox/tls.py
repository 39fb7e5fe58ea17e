"""Certificates for the sandbox: a CA, a server certificate it signs, and a client certificate.

Everything is generated once into the state dir and reused on restart, so a CA bundle handed to
a client stays valid across restarts.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from airflow_provider_insights.sandbox import credentials as cred

_VALIDITY = dt.timedelta(days=3650)


@dataclass(frozen=True)
class TlsMaterial:
    """Paths of the generated PEM files.

    :param ca_path: the CA certificate (the bundle clients verify against).
    :param server_cert_path: the server certificate chain.
    :param server_key_path: the server private key.
    :param client_bundle_path: client private key + certificate (for the certificate grant).
    :param client_cert_path: the client certificate alone.
    :param client_thumbprint: SHA-1 thumbprint of the client certificate, hex upper case.
    """

    ca_path: Path
    server_cert_path: Path
    server_key_path: Path
    client_bundle_path: Path
    client_cert_path: Path
    client_thumbprint: str

    def server_ssl_context(self) -> ssl.SSLContext:
        """An SSL context serving the server certificate."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(self.server_cert_path), str(self.server_key_path))
        return context


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Partner Insights Sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _builder(subject: x509.Name, issuer: x509.Name, public_key: rsa.RSAPublicKey) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + _VALIDITY)
    )


def _make_ca() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = _new_key()
    name = _name("Partner Insights Sandbox CA")
    cert = (
        _builder(name, name, key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _make_leaf(
    ca_key: rsa.RSAPrivateKey, ca_cert: x509.Certificate, common_name: str, *, server: bool
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = _new_key()
    builder = (
        _builder(_name(common_name), ca_cert.subject, key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.DNSName("localhost"),
                ]
            ),
            critical=False,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    else:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _write(path: Path, data: bytes, *, private: bool = False) -> None:
    path.write_bytes(data)
    if private:
        path.chmod(0o600)


def _generate(state: Path) -> None:
    ca_key, ca_cert = _make_ca()
    server_key, server_cert = _make_leaf(ca_key, ca_cert, "127.0.0.1", server=True)
    client_key, client_cert = _make_leaf(ca_key, ca_cert, cred.CLIENT_ID, server=False)
    _write(state / cred.CA_KEY_FILE, _key_pem(ca_key), private=True)
    _write(state / cred.SERVER_KEY_FILE, _key_pem(server_key), private=True)
    _write(state / cred.SERVER_CERT_FILE, _cert_pem(server_cert) + _cert_pem(ca_cert))
    _write(state / cred.CLIENT_KEY_FILE, _key_pem(client_key), private=True)
    _write(state / cred.CLIENT_CERT_FILE, _cert_pem(client_cert))
    _write(state / cred.CLIENT_BUNDLE_FILE, _key_pem(client_key) + _cert_pem(client_cert), private=True)
    _write(state / cred.CLIENT_THUMBPRINT_FILE, client_cert.fingerprint(hashes.SHA1()).hex().upper().encode())
    # The CA is written last: its presence marks a complete set.
    _write(state / cred.CA_CERT_FILE, _cert_pem(ca_cert))


def ensure_tls_material(state_dir: str | Path) -> TlsMaterial:
    """Generate the certificates into ``state_dir`` unless a complete set is already there.

    :param state_dir: the sandbox's state directory (created if missing).
    """
    state = Path(state_dir)
    state.mkdir(parents=True, exist_ok=True)
    if not (state / cred.CA_CERT_FILE).exists():
        _generate(state)
    return TlsMaterial(
        ca_path=state / cred.CA_CERT_FILE,
        server_cert_path=state / cred.SERVER_CERT_FILE,
        server_key_path=state / cred.SERVER_KEY_FILE,
        client_bundle_path=state / cred.CLIENT_BUNDLE_FILE,
        client_cert_path=state / cred.CLIENT_CERT_FILE,
        client_thumbprint=(state / cred.CLIENT_THUMBPRINT_FILE).read_text().strip(),
    )


def load_client_public_key(state_dir: str | Path) -> rsa.RSAPublicKey:
    """Return the public key of the generated client certificate (to verify client assertions).

    :param state_dir: the sandbox's state directory.
    """
    cert = x509.load_pem_x509_certificate((Path(state_dir) / cred.CLIENT_CERT_FILE).read_bytes())
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise TypeError("the sandbox client certificate must hold an RSA key")
    return key
