"""Private at rest whatever the umask (issue 12, finding 4): data directory 0700,
the SQLite database and its WAL/SHM 0600; ``tcup-server db check`` reports looser modes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from live_server import server_cli
from tcup_server import db
from tcup_server.app import create_app
from tcup_server.settings import load_settings


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022():
    """The usual umask of a shell: files 0644, directories 0755 unless made otherwise."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TCUP_SERVER_")}
    env["TCUP_SERVER_DATA_DIR"] = str(tmp_path / "srv" / "data")
    return env


def test_db_upgrade_under_umask_022_makes_the_data_private(umask_022, cli_env):
    data = Path(cli_env["TCUP_SERVER_DATA_DIR"])
    out = server_cli(cli_env, "db", "upgrade")
    assert "is at revision head" in out
    assert mode(data) == 0o700
    assert mode(data / "tcup-server.db") == 0o600
    assert mode(data / "keys") == 0o700
    assert mode(data / "keys" / "receipt-key.pem") == 0o600
    for leftover in ("tcup-server.db-wal", "tcup-server.db-shm"):
        if (data / leftover).exists():
            assert mode(data / leftover) == 0o600, leftover
    check = server_cli(cli_env, "db", "check")
    assert check.strip().endswith("consistent") and "INCONSISTENT" not in check


def test_db_check_reports_loose_modes_with_the_fix_and_upgrade_fixes_them(umask_022, cli_env):
    data = Path(cli_env["TCUP_SERVER_DATA_DIR"])
    server_cli(cli_env, "db", "upgrade")
    database = data / "tcup-server.db"
    wal = data / "tcup-server.db-wal"
    shm = data / "tcup-server.db-shm"
    for path in (wal, shm):
        path.touch()
    for path, loose in ((data, 0o755), (database, 0o644), (wal, 0o644), (shm, 0o640)):
        path.chmod(loose)

    check = server_cli(cli_env, "db", "check", ok=(1,))
    assert f"mode 0755 of {data} is too open (want 0700): run `chmod 700 {data}`" in check
    assert f"run `chmod 600 {database}`" in check
    assert f"run `chmod 600 {wal}`" in check
    assert f"mode 0640 of {shm} is too open (want 0600): run `chmod 600 {shm}`" in check
    assert check.strip().endswith("INCONSISTENT")
    assert mode(database) == 0o644  # check reports, changes nothing

    for path in (wal, shm):  # closing the database in `db check` may have removed them
        path.touch()
        path.chmod(0o644)
    fixed = server_cli(cli_env, "db", "upgrade")
    assert f"tightened mode of {data} from 0755 to 0700" in fixed
    assert f"tightened mode of {database} from 0644 to 0600" in fixed
    assert f"tightened mode of {wal} from 0644 to 0600" in fixed
    assert f"tightened mode of {shm} from 0644 to 0600" in fixed
    assert (mode(data), mode(database)) == (0o700, 0o600)
    assert "INCONSISTENT" not in server_cli(cli_env, "db", "check")


def test_a_running_server_keeps_database_wal_and_shm_private(
    umask_022, tmp_path, keys_dir, guideline_dir, subunit_body
):
    """A server started under umask 022 on a loose data directory: everything 0700/0600,
    also the WAL and SHM files SQLite creates while it serves uploads."""
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    settings = load_settings(
        environ={},
        data_dir=data,
        keys_dir=keys_dir,
        guideline_dir=guideline_dir,
        allow_anonymous_upload=True,
        cookie_secure=False,
    )
    engine = db.make_engine(settings.resolved_database_url)
    db.upgrade(engine)
    engine.dispose()
    app = create_app(settings)
    try:
        assert mode(data) == 0o700
        with TestClient(app) as client:
            response = client.post(
                "/v1/results", content=subunit_body, headers={"Content-Type": "application/json"}
            )
            assert response.status_code == 201, response.text
            files = {p.name: mode(p) for p in data.iterdir() if p.name.startswith("tcup-server")}
        assert {"tcup-server.db", "tcup-server.db-wal", "tcup-server.db-shm"} <= set(files)
        assert set(files.values()) == {0o600}, files
        assert mode(data / "artefacts") == 0o700
    finally:
        app.state.tcup.engine.dispose()
