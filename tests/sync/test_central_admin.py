"""``hallvakt central ...`` and central.toml (sync/central/admin.py, config.py, importer.py).

Run through the real console entry point (hallvakt.cli.main): init
writes a 0600 signing key and prints a block a node config accepts; the admin
actions change the store only through mutate, refuse what the contract
forbids with a clear message and exit status, and report every problem of a
config or an import file at once.
"""

from __future__ import annotations

import itertools
import json
import stat
import tomllib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from firmware_config.schema import ConfigError
from firmware_config.values import parse_central_key
from hallvakt.cli import main
from sync.central import changelog as cl
from sync.central.admin import Failed, broker_settings
from sync.central.config import (
    REFERENCE_BEGIN,
    REFERENCE_END,
    load_central_config,
    parse_central_config,
    reference,
)
from sync.central.db import Store
from sync.central.importer import ImportFailed, parse_csv, parse_json, parse_time
from sync.central.link import BrokerSettings
from sync.central.nodes import b64url
from sync.protocol.testing import private_key
from sync.replica import Booking, Lease
from tests.support.tls import TestCA

FAC = "fac1"
_dbs = itertools.count(1)
Run = Callable[..., tuple[int, str, str]]


def write_config(tmp_path: Path, extra: str = "", store: str = "data/central.db") -> Path:
    path = tmp_path / "central.toml"
    path.write_text(
        f"""
store = "{store}"
[signing]
key = "secrets/central.key"
kid = "central-2026a"
[broker]
url = "mqtt://127.0.0.1:1883"
{extra}
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def cfg(tmp_path: Path, engine: str, request: pytest.FixtureRequest) -> Path:
    """central.toml with a SQLite path, or a PostgreSQL URL (an empty database)."""
    if engine == "sqlite":
        return write_config(tmp_path)
    server = request.getfixturevalue("pg_server")
    name = f"admin{next(_dbs)}"
    server.create_database(name)
    request.addfinalizer(lambda: server.drop_database(name))
    return write_config(tmp_path, store=server.url(name))


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    def go(*argv: str) -> tuple[int, str, str]:
        code = main(["central", *argv])
        out, err = capsys.readouterr()
        return code, out, err

    return go


@pytest.fixture
def ready(cfg: Path, run: Run, site: Any, tmp_path: Path) -> Path:
    """An initialised store with the test site imported and node n1 registered."""
    assert run("init", "--config", str(cfg))[0] == 0
    data = tmp_path / "site.json"
    data.write_text(json.dumps(site.entities()), encoding="utf-8")
    assert run("import", "--config", str(cfg), "--facility", FAC, str(data))[0] == 0
    key = b64url(private_key("n1").public_key().public_bytes_raw())
    assert (
        run(
            "register-node",
            "--config",
            str(cfg),
            "--node",
            "n1",
            "--facility",
            FAC,
            "--public-key",
            key,
        )[0]
        == 0
    )
    return cfg


def open_store(cfg: Path) -> Store:
    return Store.open(load_central_config(cfg).store.url)


# --- central.toml -----------------------------------------------------------------


def test_config_defaults_and_relative_paths(tmp_path: Path) -> None:
    c = load_central_config(write_config(tmp_path))
    assert c.store.path == tmp_path / "data" / "central.db"
    assert c.store.url == f"sqlite:///{tmp_path}/data/central.db"
    assert c.signing.key == tmp_path / "secrets" / "central.key"
    assert (c.broker.client_id, c.broker.session_expiry_s) == ("central-1", 7 * 86_400)
    assert (c.retention.changelog_days, c.retention.changelog_revs) == (30, 10_000)
    assert c.leases.horizon_days == 14


def test_config_problems_are_reported_all_at_once() -> None:
    doc = {
        "store": 5,
        "signing": {"key": "k", "kid": "has space"},
        "broker": {"url": "mqtt://broker.example", "session_expiry_s": 60, "ca": "ca.pem"},
        "retention": {"changelog_dayz": 3},
    }
    with pytest.raises(Exception) as info:
        parse_central_config(doc, file="c.toml")
    text = str(info.value)
    for needle in [
        "c.toml: store: must be a string",
        "c.toml: signing.kid:",
        "c.toml: broker.url: ",
        "loopback",
        "c.toml: broker.session_expiry_s: 60 is not in 86400..1209600",
        "c.toml: retention.changelog_dayz: unknown key; did you mean changelog_days?",
    ]:
        assert needle in text, (needle, text)
    with pytest.raises(Exception, match=r"broker\.ca: is not allowed when url is not mqtts://"):
        parse_central_config(
            {
                "store": "s",
                "signing": {"key": "k", "kid": "c"},
                "broker": {"url": "unix:///m", "ca": "x"},
            }
        )
    with pytest.raises(Exception, match=r"broker\.cert: is required when url is mqtts://"):
        parse_central_config(
            {
                "store": "s",
                "signing": {"key": "k", "kid": "c"},
                "broker": {"url": "mqtts://b.example", "ca": "x"},
            }
        )


@pytest.mark.parametrize(
    ("client_id", "ok"),
    [
        ("central-1", True),
        ("central-demo.b", True),
        ("central", False),  # reserved, but no gateway's: the ACL grants it nothing
        ("central-", False),
        ("Central-1", False),
        ("gateway-1", False),  # a name a node could have
        ("central-1/#", False),
        ("central-" + "x" * 57, False),  # 65 characters
    ],
)
def test_client_id_is_a_gateway_identity(client_id: str, ok: bool) -> None:
    """A gateway's client id is a name no node may have (``central-*``)."""
    doc = {
        "store": "s",
        "signing": {"key": "k", "kid": "c"},
        "broker": {"url": "unix:///m", "client_id": client_id},
    }
    if ok:
        assert parse_central_config(doc).broker.client_id == client_id
    else:
        with pytest.raises(ConfigError, match=r"broker\.client_id: .* is not a gateway identity"):
            parse_central_config(doc)


def test_the_gateways_certificate_cn_must_be_its_client_id(tmp_path: Path) -> None:
    """The production broker names the session after the certificate's CN
    (use_username_as_clientid): a gateway whose CN is not its client_id is
    refused before it connects."""
    ca = TestCA(tmp_path / "pki")
    issued = {cn: ca.client(cn) for cn in ("central-1", "central")}

    def settings(cert: Path, client_id: str) -> BrokerSettings:
        doc = {
            "store": "s",
            "signing": {"key": "k", "kid": "c"},
            "broker": {
                "url": "mqtts://broker.example",
                "ca": str(ca.cert_path),
                "cert": str(cert),
                "key": str(issued["central-1"].key),
                "client_id": client_id,
            },
        }
        return broker_settings(parse_central_config(doc))

    assert settings(issued["central-1"].cert, "central-1").client_id == "central-1"
    with pytest.raises(Failed, match=r"has CN 'central-1', but broker\.client_id is 'central-2'"):
        settings(issued["central-1"].cert, "central-2")
    with pytest.raises(Failed, match=r"has CN 'central', but broker\.client_id is 'central-1'"):
        settings(issued["central"].cert, "central-1")  # the one identity of old: no more
    with pytest.raises(Failed, match="not a readable PEM certificate"):
        settings(issued["central-1"].key, "central-1")


def test_a_bad_config_exits_78_and_no_action_needs_config(run: Run, tmp_path: Path) -> None:
    bad = write_config(tmp_path, "colour = 1")
    code, _, err = run("status", "--config", str(bad))
    assert code == 78 and "broker.colour: unknown key" in err
    assert run()[0] == 2
    assert run("status")[0] == 2  # --config is required


# --- init and registration ---------------------------------------------------------


def test_init_writes_a_private_key_and_prints_what_nodes_pin(cfg: Path, run: Run) -> None:
    code, out, err = run("init", "--config", str(cfg))
    assert code == 0 and "written" in err
    c = load_central_config(cfg)
    assert stat.S_IMODE(c.signing.key.stat().st_mode) == 0o600
    pinned = tomllib.loads(out)["central_keys"]
    assert list(pinned) == ["central-2026a"]
    raw = parse_central_key(pinned["central-2026a"]).raw
    code, out2, err2 = run("init", "--config", str(cfg))  # again: the key is kept
    assert code == 0 and "kept" in err2 and out2 == out
    assert len(raw) == 32
    with open_store(cfg) as store:  # made and migrated
        assert store.engine == c.store.engine
        assert store.execute("SELECT count(*) FROM nodes").scalar() == 0


def test_register_node_checks_ids_and_keys(ready: Path, run: Run) -> None:
    key2 = b64url(private_key("n2").public_key().public_bytes_raw())

    def register(node: str, key: str, *more: str, facility: str = FAC) -> tuple[int, str, str]:
        args = ("--node", node, "--facility", facility, "--public-key", key, *more)
        return run("register-node", "--config", str(ready), *args)

    code, out, _ = register("n2", key2, "--kid", "n2/1")
    assert code == 1
    code, out, _ = register("n2", key2, "--kid", "n2-1")
    assert (code, out.strip()) == (0, "node n2 registered for facility fac1, key n2-1")
    for node, key, match in [
        ("central", key2, "not 'central'"),
        ("central-1", key2, "reserved for central's gateways"),  # a gateway's broker identity
        ("central-x.n1", key2, "reserved for central's gateways"),
        ("centralen.n1", key2, ""),  # only `central` and `central-*` are reserved
        ("n2", key2 + "A", "43 characters"),
        ("n2", key2, ""),  # the same again is fine
    ]:
        code, _, err = register(node, key)
        assert (code == 0) == (match == "") and match in err
    code, _, err = register("n2", key2, facility="fac9")
    assert code == 1 and "registered to facility 'fac1'" in err


# --- import --------------------------------------------------------------------------


def test_import_json_with_windows_makes_leases(ready: Path, run: Run, tmp_path: Path) -> None:
    doc = {
        "walkin_windows": [
            {
                "resource": "A",
                "node": "n1",
                "windows": [{"days": [1, 2, 3, 4, 5, 6, 7], "from": "06:00", "to": "23:00"}],
            }
        ],
        "delete": [{"entity": "door", "id": "gym-door"}],
    }
    f = tmp_path / "w.json"
    f.write_text(json.dumps(doc), encoding="utf-8")
    code, _, err = run("import", "--config", str(ready), "--facility", FAC, str(f))
    assert code == 0, err
    with open_store(ready) as s:
        ls = [r for r in cl.records(s, FAC, "lease") if isinstance(r, Lease)]
        assert len(ls) >= 14 and {le.node for le in ls} == {"n1"}
        assert cl.revs(s, FAC).rev == 3  # the delete, then the leases
    # a booking inside one of those leases is refused, the file as a whole
    lease = ls[1]
    csv = tmp_path / "b.csv"
    csv.write_text(
        "id,resources,start,end,title\n"
        f"ok1,gym,{lease.start:%Y-%m-%dT%H:%M:%SZ},{lease.end:%Y-%m-%dT%H:%M:%SZ},Ok\n"
        f"in,A;B,{lease.start:%Y-%m-%dT%H:%M:%SZ},{lease.end:%Y-%m-%dT%H:%M:%SZ},Nope\n",
        encoding="utf-8",
    )
    code, _, err = run("import", "--config", str(ready), "--facility", FAC, str(csv))
    assert code == 1 and "in: inside lease" in err
    with open_store(ready) as s:
        assert cl.get(s, FAC, Booking, "ok1") is None


def test_import_csv_bookings_and_credentials_and_their_problems(
    ready: Path, run: Run, tmp_path: Path
) -> None:
    b = tmp_path / "bookings.csv"
    b.write_text(
        "\ufeffid,resources,start,end,holder,title,status\n"
        "s1,hall,2026-09-01 18:00,2026-09-01 19:30,ik-fram,Innebandy,\n"
        "s2,A;B,2026-09-02T16:00:00Z,2026-09-02T17:00:00Z,,,tentative\n",
        encoding="utf-8",
    )
    code, _, err = run("import", "--config", str(ready), "--facility", FAC, str(b))
    assert code == 0, err
    with open_store(ready) as s:
        s1 = cl.get(s, FAC, Booking, "s1")
        assert s1 is not None and s1.start == datetime(2026, 9, 1, 16, 0, tzinfo=UTC)  # CEST
        s2 = cl.get(s, FAC, Booking, "s2")
        assert s2 is not None and s2.resources == ("A", "B") and s2.status == "tentative"
    c = tmp_path / "creds.csv"
    c.write_text(
        "id,holder,kind,digest,valid_to\n"
        f"c1,anna,card,{'A' * 43},2027-01-01T00:00:00Z\n"
        "c2,anna,card,short,\n"
        "c3,anna,laser,AAAA,\n"
        "c4,anna\n",
        encoding="utf-8",
    )
    code, _, err = run("import", "--config", str(ready), "--facility", FAC, str(c))
    assert code == 1
    assert ":3: credential 'c2': digest" in err and ":4: credential 'c3': kind" in err
    assert ":5: 2 cells, the header has 5" in err


def test_import_parsers_report_every_problem() -> None:
    with pytest.raises(ImportFailed) as info:
        parse_json(
            json.dumps({"booking": [{"id": "x"}], "castle": [], "delete": [{"entity": "x"}]}),
            "f.json",
        )
    assert len(info.value.problems) == 3
    with pytest.raises(ImportFailed, match="header must name"):
        parse_csv("a,b\n1,2\n", "f.csv", "Europe/Stockholm")
    with pytest.raises(ImportFailed, match="unknown column 'colour'"):
        parse_csv("id,resources,start,end,colour\n", "f.csv", "Europe/Stockholm")
    assert parse_time("2026-03-29 02:30", "Europe/Stockholm") == datetime(
        2026, 3, 29, 1, 30, tzinfo=UTC
    )
    assert parse_time("2026-05-04T19:00+02:00", "UTC") == datetime(2026, 5, 4, 17, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="not a time"):
        parse_time("tomorrow", "UTC")


def test_revoke_node_and_replace_key(ready: Path, run: Run) -> None:
    code, out, err = run("revoke-node", "--config", str(ready), "--node", "n1")
    assert code == 0 and out.startswith("node n1 revoked (1 keys removed)"), err
    assert "revoke its certificate" in out
    code, _, err = run("revoke-node", "--config", str(ready), "--node", "n9")
    assert code == 1 and "node 'n9' is not registered" in err
    key = b64url(private_key("n1-new").public_key().public_bytes_raw())
    code, out, err = run("replace-key", "--config", str(ready), "--node", "n1", "--public-key", key)
    assert code == 0 and "now trusted with key n1-" in out, err
    with open_store(ready) as store:
        kids = [
            r[0] for r in store.execute("SELECT kid FROM node_keys WHERE node = 'n1'").fetchall()
        ]
    assert len(kids) == 1 and out.split("key ")[1].startswith(kids[0])


# --- book, command, demo-seed, status ------------------------------------------------------


def test_book_places_or_refuses_with_a_reason(ready: Path, run: Run) -> None:
    start = (datetime.now(UTC) + timedelta(days=30)).replace(
        hour=10, minute=0, second=0, microsecond=0
    )
    end = start + timedelta(hours=1)
    args = [
        "book",
        "--config",
        str(ready),
        "--facility",
        FAC,
        "--start",
        f"{start:%Y-%m-%dT%H:%M:%SZ}",
        "--end",
        f"{end:%Y-%m-%dT%H:%M:%SZ}",
    ]
    code, out, err = run(*args, "--resource", "A", "--title", "Träning", "--id", "t1")
    assert code == 0 and out.startswith("booked t1 on A"), err
    code, _, err = run(*args, "--resource", "hall", "--title", "Match")
    assert code == 1 and "booking refused: conflicts with booking 't1'" in err
    code, _, err = run(*args, "--resource", "A", "--title", "x" * 200)
    assert code == 1 and "title" in err


def test_command_is_queued_with_a_seq(ready: Path, run: Run) -> None:
    code, out, _ = run(
        "command",
        "--config",
        str(ready),
        "--node",
        "n1",
        "--cmd",
        "unlock",
        "--door",
        "main",
        "--seconds",
        "10",
    )
    assert code == 0 and "seq 1" in out
    code, _, err = run(
        "command", "--config", str(ready), "--node", "n1", "--cmd", "message", "--text", "x" * 600
    )
    assert code == 1 and "text" in err


def test_demo_seed_loads_the_demo_facility_with_leases_for_the_node(cfg: Path, run: Run) -> None:
    run("init", "--config", str(cfg))
    code, _, err = run(
        "demo-seed", "--config", str(cfg), "--node", "demo.node.n1", "--date", "2026-05-04"
    )
    assert code == 0, err
    with open_store(cfg) as s:
        ls = [r for r in cl.records(s, "kroksbackshallen", "lease") if isinstance(r, Lease)]
        assert ls and {le.node for le in ls} == {"demo.node.n1"}
        assert {le.resource for le in ls} == {"hall.a", "hall.b", "hall.c"}
        assert s.execute("SELECT count(*) FROM nodes").fetchone() == (0,)  # registers nothing
    assert (
        run("demo-seed", "--config", str(cfg), "--node", "demo.node.n1", "--date", "2026-05-04")[0]
        == 0
    )


def test_status_shows_nodes_lag_and_rejections(ready: Path, run: Run) -> None:
    with open_store(ready) as s:
        s.execute(
            "INSERT INTO security_log (at_ts, topic, node, reason, detail)"
            " VALUES (?, 't', 'n1', 'bad_signature', 'd')",
            [int(datetime.now(UTC).timestamp())],
        )
    code, out, _ = run("status", "--config", str(ready))
    assert code == 0
    assert "fac1" in out and "n1 " in out and "never" in out
    assert "security rejections: 1 (1 in the last 24 h)" in out and "bad_signature" in out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"store = \n", "central.toml: line 1, column 9: invalid TOML: Invalid value"),
        (
            b"a = " + b"[" * 5000 + b"]" * 5000 + b"\n",
            "central.toml: invalid TOML: nested too deeply",
        ),
        (b"store = '\xe5'\n", "central.toml: is not UTF-8 text (byte 9)"),
    ],
    ids=["syntax", "nested", "latin1"],
)
def test_an_unreadable_central_toml_is_a_config_error(
    tmp_path: Path, text: bytes, message: str
) -> None:
    path = tmp_path / "central.toml"
    path.write_bytes(text)
    with pytest.raises(ConfigError) as info:
        load_central_config(path)
    assert str(info.value) == message.replace("central.toml", str(path))


@pytest.mark.parametrize("name", ["central.toml", "local.toml"])
def test_the_deploy_examples_are_valid(name: str) -> None:
    path = Path(__file__).resolve().parents[2] / "deploy" / "central" / name
    c = load_central_config(path)
    assert c.broker.session_expiry_s >= 86_400 and c.signing.kid


def test_docs_central_md_holds_the_current_config_reference() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "central.md").read_text(encoding="utf-8")
    _, _, rest = doc.partition(REFERENCE_BEGIN + "\n\n")
    block, found, _ = rest.partition(REFERENCE_END)
    assert found, "docs/central.md lacks the reference markers"
    assert block == reference() + "\n", "regenerate with sync.central.config.reference()"


def test_register_node_takes_a_key_that_starts_with_a_dash(ready: Path, run: Run) -> None:
    """1 in 64 base64url keys starts with "-"; argparse must not take it for an option."""
    seed = 0
    while True:
        key = b64url(private_key(f"dash{seed}").public_key().public_bytes_raw())
        if key.startswith("-"):
            break
        seed += 1
    code, out, err = run(
        "register-node", "--config", str(ready), "--node", "n9", "--facility", FAC,
        "--public-key", key, "--kid", "n9-1",
    )  # fmt: skip
    assert (code, out.strip()) == (0, "node n9 registered for facility fac1, key n9-1"), err
