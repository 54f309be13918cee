"""Provisioning: private files, idempotence, --force, keys that load and sign,
credential key import, the registration block, and what ``check`` says about
the files afterwards."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID

from firmware_config.config import load_config
from firmware_config.model import NodeConfig
from firmware_config.provision import (
    ProvisionError,
    mosquitto_password_line,
    provision,
    render_files,
    render_registration,
)
from firmware_config.schema import ConfigError
from firmware_config.secrets import (
    SecretError,
    load_credential_key,
    load_node_key,
    load_password,
    load_reader_key,
    load_tls_key,
    write_secret,
)
from tests.support.config import EXAMPLES, Central, install_certificates


@pytest.fixture
def small(tmp_path: Path) -> Path:
    """The small-hall example, copied to a fresh directory."""
    config = tmp_path / "node.toml"
    shutil.copy(EXAMPLES / "small-hall.toml", config)
    return config


@pytest.fixture
def loopback(tmp_path: Path) -> Path:
    """A demo config: plain MQTT on loopback with a password file."""
    config = tmp_path / "node.toml"
    text = (EXAMPLES / "small-hall.toml").read_text(encoding="utf-8")
    text = re.sub(
        r"\[broker\][^\[]*",
        '[broker]\nurl = "mqtt://127.0.0.1:1883"\npassword_file = "secrets/broker.pw"\n\n',
        text,
    )
    config.write_text(text, encoding="utf-8")
    return config


def secret_paths(cfg: NodeConfig) -> list[Path]:
    paths = [cfg.node_key, cfg.credential_key, *(r.key for r in cfg.readers if r.key)]
    return paths + [p for p in (cfg.broker.key, cfg.broker.password_file) if p is not None]


def snapshot(paths: list[Path]) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in paths}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_secrets_are_0600_in_0700_directories(small: Path, permissive_umask: None) -> None:
    cfg = load_config(small, files=False)
    done = provision(cfg, csr=True)
    assert {f.action for f in done.files} == {"written"}
    paths = secret_paths(cfg)
    assert [f.path for f in done.files] == paths
    for p in paths:
        assert mode(p) == 0o600, p
    assert mode(small.parent / "secrets") == 0o700
    assert not list((small.parent / "secrets").glob(".*.tmp"))


def test_keys_load_back_in_their_formats(small: Path) -> None:
    cfg = load_config(small, files=False)
    provision(cfg, csr=True)
    load_node_key(cfg.node_key)
    assert len(load_credential_key(cfg.credential_key)) == 32
    reader_key = cfg.readers[0].key
    assert reader_key is not None
    assert len(load_reader_key(reader_key)) == 16
    assert re.fullmatch(rb"[0-9a-f]{32}\n", reader_key.read_bytes())
    assert cfg.broker.key is not None
    load_tls_key(cfg.broker.key)


def test_a_second_run_keeps_everything(small: Path) -> None:
    cfg = load_config(small, files=False)
    first = provision(cfg, csr=True)
    before = snapshot(secret_paths(cfg))
    again = provision(cfg, csr=True)
    assert {f.action for f in again.files} == {"kept"}
    assert snapshot(secret_paths(cfg)) == before
    assert again.registration.public_key == first.registration.public_key
    assert "kept" in render_files(again.files)


def test_an_existing_secret_is_never_overwritten_without_force(small: Path) -> None:
    cfg = load_config(small, files=False)
    mine = bytes(range(32))
    write_secret(cfg.credential_key, mine.hex().encode() + b"\n")
    done = provision(cfg)
    assert [f.action for f in done.files if f.what == "credential key"] == ["kept"]
    assert load_credential_key(cfg.credential_key) == mine
    assert not done.registration.credential_key_generated


def test_force_replaces_every_secret(small: Path) -> None:
    cfg = load_config(small, files=False)
    provision(cfg, csr=True)
    before = snapshot(secret_paths(cfg))
    done = provision(cfg, csr=True, force=True)
    assert {f.action for f in done.files} == {"replaced"}
    after = snapshot(secret_paths(cfg))
    assert all(after[p] != before[p] for p in before)
    assert all(mode(p) == 0o600 for p in after)


def test_a_signature_made_with_the_written_key_verifies_with_the_printed_one(small: Path) -> None:
    cfg = load_config(small, files=False)
    text = render_registration(provision(cfg).registration)
    m = re.search(r'^public_key = "([A-Za-z0-9_-]{43})"$', text, re.M)
    assert m is not None
    public = Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(m.group(1) + "="))
    message = b'{"v":1,"kind":"hello","node":"lund.vallkarrahallen.n1"}'
    public.verify(load_node_key(cfg.node_key).sign(message), message)  # raises if not


def test_the_registration_block(small: Path) -> None:
    cfg = load_config(small, files=False)
    reg = provision(cfg, csr=True).registration
    text = render_registration(reg)
    raw = reg.public_key
    fp = base64.urlsafe_b64encode(hashlib.sha256(raw).digest()).rstrip(b"=").decode()
    assert 'node_id = "lund.vallkarrahallen.n1"' in text
    assert 'facility_id = "vallkarrahallen"' in text
    assert f'kid = "lund.vallkarrahallen.n1-{fp[:8]}"  # suggested' in text
    assert reg.acl() == [
        "user lund.vallkarrahallen.n1",
        "topic write hallvakt/v1/lund.vallkarrahallen.n1/up/#",
        "topic write hallvakt/v1/lund.vallkarrahallen.n1/status",
        "topic read hallvakt/v1/lund.vallkarrahallen.n1/dn/#",
    ]
    assert "\n".join(reg.acl()) in text
    assert "credential key K was generated" in text
    for p in secret_paths(cfg):  # no secret in the block
        content = p.read_bytes().strip()
        assert content.decode() not in text


def test_the_csr_names_the_node_and_matches_the_tls_key(small: Path) -> None:
    cfg = load_config(small, files=False)
    reg = provision(cfg, csr=True).registration
    assert reg.csr_pem is not None and reg.csr_pem in render_registration(reg)
    csr = x509.load_pem_x509_csr(reg.csr_pem.encode())
    assert csr.is_signature_valid
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == cfg.node_id
    assert cfg.broker.key is not None
    spki = (Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    tls_public = load_tls_key(cfg.broker.key).public_key().public_bytes(*spki)
    assert csr.public_key().public_bytes(*spki) == tls_public


def test_csr_needs_a_tls_key_path(loopback: Path) -> None:
    with pytest.raises(ProvisionError, match=r"--csr needs broker\.key"):
        provision(load_config(loopback, files=False), csr=True)


def test_password_file_and_its_mosquitto_line(loopback: Path) -> None:
    cfg = load_config(loopback, files=False)
    reg = provision(cfg).registration
    assert cfg.broker.password_file is not None
    assert mode(cfg.broker.password_file) == 0o600
    password = load_password(cfg.broker.password_file)
    assert reg.password_line is not None and password not in render_registration(reg)
    user, _, it, salt, digest = reg.password_line.split("$")
    assert (user, it) == (f"{cfg.node_id}:", "101")
    expected = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(salt), 101)
    assert base64.b64decode(digest) == expected
    assert "provision --csr" not in render_registration(reg)  # no TLS: no CSR advice
    load_config(loopback)  # every file in place: all three passes pass


def test_mosquitto_line_matches_mosquitto_passwd() -> None:
    # Written by mosquitto_passwd 2.0.11: `mosquitto_passwd -b pw node1 secret`.
    line = (
        "node1:$7$101$DBW4Kl6s/mXISjfL$ZwQ8EOlxR4kmGmdPw+7O5VKVcqprIVrajfnC/HnE+XGxtJYfB8WwO"
        "J7j44tPepwBeGV9uWyZpPfwp5fMI7dB4g=="
    )
    salt = base64.b64decode("DBW4Kl6s/mXISjfL")
    assert mosquitto_password_line("node1", "secret", salt) == line


@pytest.mark.parametrize(
    "encode",
    [
        lambda k: k.hex().encode(),
        lambda k: k.hex().upper().encode() + b"\n",
        lambda k: base64.b64encode(k),
        lambda k: base64.urlsafe_b64encode(k).rstrip(b"="),
        lambda k: k,
    ],
    ids=["hex", "HEX-newline", "base64", "base64url", "raw"],
)
def test_import_the_municipalitys_credential_key(small: Path, encode: object) -> None:
    key = hashlib.sha256(b"Lunds kommun credential key").digest()
    handed_over = small.parent / "from-municipality.key"
    handed_over.write_bytes(encode(key))  # type: ignore[operator]
    cfg = load_config(small, files=False)
    done = provision(cfg, import_credential_key=handed_over)
    assert load_credential_key(cfg.credential_key) == key
    assert not done.registration.credential_key_generated
    assert "generated" not in render_registration(done.registration)
    provision(cfg, import_credential_key=handed_over)  # the same key again: fine


def test_an_import_that_differs_from_the_key_in_place_writes_nothing(small: Path) -> None:
    cfg = load_config(small, files=False)
    write_secret(cfg.credential_key, bytes(32).hex().encode())
    handed_over = small.parent / "other.key"
    handed_over.write_bytes(bytes(range(32)).hex().encode())
    with pytest.raises(ProvisionError, match="holds a different credential key"):
        provision(cfg, import_credential_key=handed_over)
    assert not cfg.node_key.exists()
    assert load_credential_key(cfg.credential_key) == bytes(32)
    provision(cfg, import_credential_key=handed_over, force=True)
    assert load_credential_key(cfg.credential_key) == bytes(range(32))


def test_an_import_that_is_not_a_key(small: Path) -> None:
    bad = small.parent / "bad.key"
    bad.write_bytes(b"not a key\n")
    with pytest.raises(ProvisionError, match="is not a 32-byte credential key"):
        provision(load_config(small, files=False), import_credential_key=bad)


def test_a_kept_secret_that_does_not_load_stops_provisioning(small: Path) -> None:
    cfg = load_config(small, files=False)
    write_secret(cfg.node_key, b"garbage\n")
    with pytest.raises(ProvisionError, match="is not an unencrypted PEM private key"):
        provision(cfg)
    assert not cfg.credential_key.exists()


def test_loaders_refuse_files_open_to_others(small: Path) -> None:
    cfg = load_config(small, files=False)
    provision(cfg)
    os.chmod(cfg.node_key, 0o640)
    with pytest.raises(SecretError) as info:
        load_node_key(cfg.node_key)
    assert str(info.value) == (
        f"{cfg.node_key} has mode 0640: group and others must have no access; "
        f"run chmod 600 {cfg.node_key}"
    )
    reader_key = cfg.readers[0].key
    assert reader_key is not None
    os.chmod(reader_key, 0o604)
    with pytest.raises(SecretError, match="has mode 0604"):
        load_reader_key(reader_key)


def test_check_reports_group_readable_and_missing_files(small: Path, central: Central) -> None:
    cfg = load_config(small, files=False)
    reg = provision(cfg, csr=True).registration
    assert reg.csr_pem is not None
    install_certificates(small, central, reg.csr_pem)
    load_config(small)  # everything in place
    os.chmod(cfg.credential_key, 0o644)
    reader_key = cfg.readers[0].key
    assert reader_key is not None
    reader_key.unlink()
    with pytest.raises(ConfigError) as info:
        load_config(small)
    assert str(info.value).splitlines() == [
        f"{small}: credential_key: {cfg.credential_key} has mode 0644: group and others "
        f"must have no access; run chmod 600 {cfg.credential_key}",
        f"{small}: readers[0].key: {reader_key} does not exist (hallvakt provision creates it)",
    ]


def test_check_reports_a_certificate_for_another_node(small: Path, central: Central) -> None:
    cfg = load_config(small, files=False)
    reg = provision(cfg, csr=True).registration
    assert reg.csr_pem is not None
    install_certificates(small, central, reg.csr_pem, cn="lund.other.n9", expired=True)
    with pytest.raises(ConfigError) as info:
        load_config(small)
    lines = str(info.value).splitlines()
    assert lines[0] == (
        f"{small}: broker.cert: {cfg.broker.cert} has CN 'lund.other.n9', not the node id "
        "'lund.vallkarrahallen.n1' (PROTOCOL.md §2)"
    )
    assert re.fullmatch(rf"{small}: broker.cert: {cfg.broker.cert} expired on \S+", lines[1])


def test_write_secret_is_no_clobber_unless_replace(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "s.key"
    assert write_secret(target, b"one")
    assert mode(target.parent) == 0o700 and mode(target.parent.parent) == 0o700
    assert not write_secret(target, b"two")
    assert target.read_bytes() == b"one"
    assert write_secret(target, b"three", replace=True)
    assert target.read_bytes() == b"three"
    assert sorted(p.name for p in target.parent.iterdir()) == ["s.key"]
