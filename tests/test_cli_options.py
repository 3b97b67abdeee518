"""CLI options mean what they say: every subcommand takes its store options (``--database``,
``--data-dir``, ``--site``) before or after the subcommand (and its action), refuses the ones
it does not use, and a token change lands in the store that was named and says which.
The issue-19 case: ``warning token --data-dir DIR revoke E TOKEN`` revoked in another store."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import drop_database, fresh_database
from warning.cli import STORE_OPTIONS, build_parser, main, parse
from warning.security import token_digest

#: Every subcommand (and action) with the arguments it needs besides the store options.
COMMANDS = {
    "run": [["run"]],
    "worker": [["worker"]],
    "token": [["token", "new", "E1"], ["token", "rotate", "E1"], ["token", "revoke", "E1", "x"], ["token", "list"]],
    "session": [["session", "list"], ["session", "end", "duty"]],
    "report": [["report", "--from", "0", "--to", "1"]],
    "export": [["export", "-o", "out.csv"]],
    "simulate": [["simulate"]],
    "score": [["score", "in.csv"]],
    "evaluate": [["evaluate"]],
    "replay": [["replay", "in.csv"]],
    "hash-password": [["hash-password"]],
    "store": [["store", "sizes"], ["store", "retain", "--dry-run"]],
}
VALUES = {
    "database": ("--database", "postgresql://u@db.example:5432/w"),
    "data_dir": ("--data-dir", "/tmp/w-d"),
    "site": ("--site", "/tmp/site.toml"),
}


def positions(argv: list[str], flag: str, value: str) -> list[list[str]]:
    """The option before the subcommand, after each word of it, and at the end."""
    out = [[flag, value, *argv]]
    for i in range(1, len(argv) + 1):
        if argv[i - 1].startswith("-") or (i >= 2 and argv[i - 2].startswith("-")):
            continue  # not between an option and its value
        out.append([*argv[:i], flag, value, *argv[i:]])
    return out


def test_every_subcommand_is_covered():
    parser = build_parser()
    choices = next(a for a in parser._actions if a.dest == "command").choices
    assert set(choices) == set(COMMANDS), "teach tests/test_cli_options.py the new subcommand"


def refused(argv: list[str]) -> bool:
    """Whether ``warning ARGV`` stops with exit 2 before doing anything (parse or check)."""
    try:
        return main(argv) == 2
    except SystemExit as exc:
        return exc.code == 2


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_store_options_in_any_position_or_refused(command, capsys):
    accepted = STORE_OPTIONS.get(command, ())
    for argv in COMMANDS[command]:
        for name, (flag, value) in VALUES.items():
            for tried in positions(argv, flag, value):
                if command == "token" and name == "site" and argv[1] != "rotate":
                    assert refused(tried), tried  # only `token rotate` uses the site file
                elif name in accepted:
                    args = parse(tried)
                    got = getattr(args, name)
                    assert str(got) == value, (tried, got)
                else:
                    with pytest.raises(SystemExit) as exited:
                        parse(tried)
                    assert exited.value.code == 2, tried
                    err = capsys.readouterr().err  # refused loudly, before or after the subcommand
                    assert "error:" in err, (tried, err)
                    if tried[0] == flag:  # accepted by the top level, refused for this subcommand
                        assert f"warning {command} does not use {flag}" in err, err


def test_defaults_come_from_the_environment_only_when_not_given(monkeypatch):
    monkeypatch.setenv("WARNING_DATABASE_URL", "postgresql://env@envhost/envdb")
    assert parse(["token", "list"]).database == "postgresql://env@envhost/envdb"
    assert parse(["--database", "postgresql://cli@h/d", "token", "list"]).database == "postgresql://cli@h/d"
    assert parse(["token", "--database", "postgresql://cli@h/d", "list"]).database == "postgresql://cli@h/d"
    assert parse(["report", "--from", "0", "--to", "1"]).database == "postgresql://env@envhost/envdb"


@pytest.fixture
async def two_stores():
    """The store named on the command line, and a decoy in WARNING_DATABASE_URL."""
    (named, n1), (decoy, n2) = await fresh_database(), await fresh_database()
    yield named, decoy
    await drop_database(n1)
    await drop_database(n2)


async def _revoked(dsn: str, digest: str) -> bool | None:
    """Whether the store holds the token as revoked; None: not there at all (nor its table)."""
    conn = await asyncpg.connect(dsn)
    try:
        if await conn.fetchval("SELECT to_regclass('tokens')") is None:
            return None
        row = await conn.fetchrow("SELECT revoked_at FROM tokens WHERE digest = $1", digest)
    finally:
        await conn.close()
    return None if row is None else row["revoked_at"] is not None


async def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, argv)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("where", ["before token", "after token", "after the action", "at the end"])
async def test_token_changes_land_in_the_named_store_and_say_so(two_stores, where, monkeypatch, capsys):
    named, decoy = two_stores
    monkeypatch.setenv("WARNING_DATABASE_URL", decoy)
    db_name = named.rsplit("/", 1)[1]

    def argv(*words: str) -> list[str]:
        opt = ["--database", named]
        if where == "before token":
            return [*opt, "token", *words]
        if where == "after token":
            return ["token", *opt, *words]
        if where == "after the action":
            return ["token", words[0], *opt, *words[1:]]
        return ["token", *words, *opt]

    code, out, err = await run_cli(argv("new", "E1"), capsys)
    assert code == 0 and db_name in err
    token = out.strip().splitlines()[-1]
    code, out, err = await run_cli(argv("revoke", "E1", token), capsys)
    assert code == 0 and db_name in out and "was active" in out
    assert await _revoked(named, token_digest(token)) is True
    assert await _revoked(decoy, token_digest(token)) is None  # the decoy store was not touched
    code, out, err = await run_cli(argv("revoke", "E2", token), capsys)  # someone else's enterprise
    assert code == 1 and "another enterprise" in err
    code, out, err = await run_cli(argv("rotate", "E1"), capsys)
    assert code == 0 and db_name in err and "revoked 0 earlier" in err
    code, out, err = await run_cli(argv("list"), capsys)
    assert code == 0 and db_name in err and out.count("E1") == 2


async def test_report_export_and_session_use_the_named_store(two_stores, monkeypatch, capsys, tmp_path: Path, site):
    from warning.store.db import connect_pool
    from warning.store.sessions import Sessions

    named, decoy = two_stores
    monkeypatch.setenv("WARNING_DATABASE_URL", decoy)
    db_name = named.rsplit("/", 1)[1]
    code, out, _ = await run_cli(
        ["--database", named, "report", "--from", "0", "--to", "60", "--out", str(tmp_path)], capsys
    )
    assert code == 0 and db_name in out and (tmp_path / "report.html").exists()
    code, out, _ = await run_cli(
        ["export", "--from", "0", "--to", "60", "-o", str(tmp_path / "x.csv"), "--database", named], capsys
    )
    assert code == 0 and db_name in out and "wrote 0 readings" in out
    pool = await connect_pool(named)
    try:
        await Sessions(pool).open("duty", "fp", "192.0.2.1")
        code, out, _ = await run_cli(["session", "--database", named, "end", "duty"], capsys)
        assert code == 0 and "ended 1 session(s) of duty" in out and db_name in out
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT ended_why FROM sessions") == "ended by an administrator"
    finally:
        await pool.close()


def test_the_store_is_named_without_its_password():
    from types import SimpleNamespace

    from warning.cli._store import describe

    named = describe(SimpleNamespace(database="postgresql://warning:s3cret@db.example:5432/warning", data_dir=None))
    assert named == "PostgreSQL warning@db.example:5432/warning" and "s3cret" not in named
    assert (
        describe(SimpleNamespace(database="postgresql://u@/w1?host=/run/pg", data_dir=None))
        == "PostgreSQL u@/run/pg/w1"
    )
    assert describe(SimpleNamespace(database=None, data_dir="/srv/w")) == "embedded PostgreSQL in /srv/w"
