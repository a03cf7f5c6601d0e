"""The add-ons' Tempest settings, their pre-flight message and the guideline typo note."""

from __future__ import annotations

import configparser
import io
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tcup import addons, configure, report
from tcup.run import guideline_typo, load_plan, services_for_plan
from tcup.scoring import score
from tests.cloud_info import make_cloud_info, make_credentials
from tests.interop import require_interop

TYPO = (
    "heat_tempest_plugin.tests.functional.test_preview.StackPreviewTest."
    "test_res_group_with_nested_template:Wherej"
)


class _Response:
    def __init__(self, status: int, body: Any = None) -> None:
        self.status_code = status
        self._body = body or {}

    def json(self) -> Any:
        return self._body


class _Session:
    """Designate's API as tcup sees it: one answer per path, 404 for the rest."""

    def __init__(self, answers: dict[str, _Response]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, str]] = []

    def request(self, url: str, method: str, **_: Any) -> _Response:
        path = url.removeprefix("http://dns:9001")
        self.calls.append((method, path))
        return self.answers.get(path, _Response(404))


def _conn(answers: dict[str, _Response]) -> Any:
    return SimpleNamespace(
        session=_Session(answers),
        dns=SimpleNamespace(get_endpoint=lambda: "http://dns:9001/v2/"),
    )


def _info(**fields: Any):  # noqa: ANN202
    return make_cloud_info(project_id="p1", roles=("admin", "member"), **fields)


# ------------------------------------------------------------------------- DNS


def test_add_on_services_of_a_plan_in_catalog_order() -> None:
    needed = iter(["compute", "orchestration", "dns"])  # a generator, as run.py passes it
    assert addons.add_on_services(needed) == ["dns", "orchestration"]


def test_dns_settings_probe_the_api_and_resolve_the_pool_nameservers() -> None:
    pools = {
        "pools": [
            {"ns_records": [{"hostname": "localhost.", "priority": 1}]},
            {"ns_records": [{"hostname": "ns1.tcup-does-not-resolve.invalid.", "priority": 1}]},
        ]
    }
    conn = _conn(
        {
            "/v2/zones?limit=1": _Response(200),
            "/v2/pools": _Response(200, pools),
            "/v2/quotas/p1": _Response(200),
            # no admin API, no root recordsets listing
        }
    )
    values = dict(((s, k), v) for s, k, v in addons.dns_settings(conn, _info()))
    assert values[("dns", "nameservers")] in ("127.0.0.1:53", "[::1]:53", "127.0.0.1:53,[::1]:53")
    assert values[("dns", "build_timeout")] == str(addons.DNS_BUILD_TIMEOUT)
    assert values[("dns_feature_enabled", "api_v2")] == "True"
    assert values[("dns_feature_enabled", "api_v2_quotas")] == "True"
    assert values[("dns_feature_enabled", "api_admin")] == "False"
    assert values[("dns_feature_enabled", "api_v2_root_recordsets")] == "False"
    assert values[("dns_feature_enabled", "api_v2_quotas_verify_project")] == "False"
    assert values[("dns_feature_enabled", "enforce_new_defaults")] == "True"
    assert values[("enforce_scope", "designate")] == "True"


def test_pools_hidden_from_the_user_give_no_nameservers() -> None:
    conn = _conn({"/v2/pools": _Response(403)})
    assert addons.discover_nameservers(conn) == []
    keys = {(s, k) for s, k, _ in addons.dns_settings(conn, _info())}
    assert ("dns", "nameservers") not in keys


def test_tempest_roles_member_is_emptied_other_roles_are_kept() -> None:
    assert addons.tempest_roles_fix({"tempest_roles": "member"}) == [("auth", "tempest_roles", "")]
    assert addons.tempest_roles_fix({"tempest_roles": "member,creator"}) == []
    assert addons.tempest_roles_fix({}) == []


# --------------------------------------------------------------- Orchestration


def test_heat_settings_use_tcups_user_and_the_compute_resources() -> None:
    account = addons.HeatAccount(
        "tcup-1-heat", "pw-123456", "tcup-1-heat", "Default", "uid", "pid", ("member",), "net1"
    )
    conf = {"compute": {"flavor_ref": "f1", "flavor_ref_alt": "f2", "image_ref": "i1"}}
    planned = [
        "heat_tempest_plugin.tests.functional.test_stack_tags.StackTagTest.test_hidden_stack",
        "heat_tempest_plugin.tests.scenario.test_aodh_alarm.AodhAlarmTest.test_alarm",
    ]
    values = dict(((s, k), v) for s, k, v in addons.heat_settings(account, conf, planned))
    assert values[("heat_plugin", "username")] == "tcup-1-heat"
    assert values[("heat_plugin", "password")] == "pw-123456"
    assert values[("heat_plugin", "project_name")] == "tcup-1-heat"
    assert values[("heat_plugin", "hidden_stack_tag")] == addons.HIDDEN_STACK_TAG
    assert values[("heat_plugin", "minimal_instance_type")] == "f1"
    assert values[("heat_plugin", "instance_type")] == "f2"
    assert values[("heat_plugin", "minimal_image_ref")] == "i1"
    assert ("heat_plugin", "image_ref") not in values  # no image_ref_alt in the conf
    assert values[("heat_plugin", "fixed_network_name")] == "net1"
    # a skip list never names a class with a planned test
    assert values[("heat_plugin", "skip_scenario_test_list")] == (
        "SoftwareConfigIntegrationTest,CfnInitIntegrationTest"
    )
    assert values[("heat_plugin", "skip_functional_test_list")] == "NotificationTest"
    shared = addons.heat_settings(account, conf, planned, shared_network="public")
    assert ("heat_plugin", "fixed_network_name", "public") in shared


def test_heat_account_from_a_users_accounts_file(tmp_path: Path) -> None:
    path = tmp_path / "accounts.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            - {username: boss, password: p0, project_name: adm, roles: [admin]}
            - {username: u1, password: p1, project_name: proj1, user_domain_name: D}
            """
        )
    )
    account = addons.account_from_file(path)
    assert account is not None and not account.made
    assert (account.username, account.project_name, account.domain_name) == ("u1", "proj1", "D")


FAKE_TEMPESTCONF = """\
import sys
out = sys.argv[sys.argv.index("--out") + 1]
open(out, "w").write(
    "[auth]\\ntempest_roles = member\\nadmin_password = adminpw-secret\\n"
    "[compute]\\nflavor_ref = f1\\nflavor_ref_alt = f2\\n"
    "[heat_plugin]\\nusername = demo_tempestconf\\nproject_name = demo\\n"
)
"""


def test_configure_writes_the_add_on_settings_and_user_overrides_win(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "fake_tempestconf.py"
    script.write_text(FAKE_TEMPESTCONF)
    monkeypatch.setattr(configure, "tempestconf_command", lambda info: [sys.executable, script])
    conn = _conn({"/v2/zones?limit=1": _Response(200)})
    monkeypatch.setattr("tcup.cloud.connection", lambda creds: conn)
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / ".stestr.conf").write_text("[DEFAULT]\ntest_path=x\ntop_dir=y\n")
    overrides = tmp_path / "overrides.ini"
    overrides.write_text("[heat_plugin]\nhidden_stack_tag = secret-tag\n[dns]\nbuild_timeout = 9\n")
    account = addons.HeatAccount("tcup-9-heat", "heatpw-77", "tcup-9-heat", "Default", "u", "p")
    run = addons.AddOnRun((addons.DNS, addons.ORCHESTRATION), (), heat=account)
    info = _info(services={"dns": "http://dns:9001", "orchestration": "http://heat:8004/v1"})
    configured = configure.configure(
        workspace,
        make_credentials(),
        info,
        configure.ConfigureOptions(overrides=overrides, add_ons=run),
    )
    parser = configparser.RawConfigParser()
    parser.read(configured.conf)
    assert parser.get("auth", "tempest_roles") == ""  # pitfall: the reader got member
    assert parser.get("heat_plugin", "username") == "tcup-9-heat"
    assert parser.get("heat_plugin", "project_name") == "tcup-9-heat"
    assert parser.get("heat_plugin", "minimal_instance_type") == "f1"
    assert parser.get("heat_plugin", "hidden_stack_tag") == "secret-tag"  # the user's
    assert parser.get("dns", "build_timeout") == "9"  # the user's
    assert parser.get("dns_feature_enabled", "api_v2") == "True"
    assert "heatpw-77" in configured.secrets
    assert "heatpw-77" not in configure.redact_conf(configured.conf, configured.secrets)


# ------------------------------------------------------------------ pre-flight


def test_preflight_names_each_add_on_whose_service_is_missing() -> None:
    root = require_interop()
    test_plan, main, add_ons = load_plan(
        str(root / "2020.06.json"), "platform", ["dns", "orchestration"]
    )
    needed = services_for_plan(test_plan, [main, *add_ons])
    lines = addons.missing_lines(test_plan, add_ons, needed, ["dns"])
    assert len(lines) == 1
    assert lines[0].startswith(
        "add-on DNS (dns.2020.06): the catalog has no dns service, "
        "so its 10 required test(s) cannot pass: "
    )
    assert "RecordsetsTest.test_delete_recordset" in lines[0]
    both = addons.missing_lines(test_plan, add_ons, needed, ["dns", "orchestration", "compute"])
    assert [line.split(":")[0] for line in both] == [
        "add-on DNS (dns.2020.06)",
        "add-on Orchestration (orchestration.2020.06)",
    ]
    assert "its 60 required test(s)" in both[1]
    assert addons.missing_lines(test_plan, add_ons, needed, ["compute"]) == []


def test_run_says_which_add_on_cannot_pass_before_any_test(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Pre-flight of a real ``tcup run`` on a cloud without Designate: the line, then exit 1."""
    from tcup import cloud as cloud_mod
    from tcup import run as run_mod

    root = require_interop()
    monkeypatch.setattr(cloud_mod, "load_credentials", lambda *a, **k: make_credentials())
    info = _info(services={"identity": "http://k:5000/v3"}, missing=("dns",), required=("dns",))
    monkeypatch.setattr(cloud_mod, "preflight", lambda *a, **k: info)
    out = io.StringIO()
    code = run_mod.run(
        run_mod.RunOptions(
            guideline=str(root / "add-ons" / "dns.2020.06.json"), out=tmp_path / "out"
        ),
        out,
    )
    text = out.getvalue()
    assert code == 1  # as for any missing service: the tests are not run, no qualification
    assert "missing services: dns; their 10 tests are not run" in text
    assert "add-on DNS (dns.2020.06): the catalog has no dns service" in text
    assert text.index("add-on DNS") < text.index("Would NOT qualify")


# ------------------------------------------------------------ guideline typos


def test_a_name_no_test_can_have_is_a_guideline_typo() -> None:
    assert guideline_typo(TYPO)
    assert not guideline_typo(TYPO.removesuffix(":Wherej"))
    assert not guideline_typo("tempest.api.x.T.test_y(ipv6)")


def test_the_report_says_the_guideline_misspells_a_test_and_what_ran() -> None:
    from tcup.testids import TestStates

    root = require_interop()
    test_plan, main, _ = load_plan(str(root / "add-ons" / "orchestration.2020.06.json"), None)
    ran = TYPO.removesuffix(":Wherej")
    states = TestStates({ran: "failed"}, {"6ca8ddfc-106f-4ecc-83f7-fca31d0c85ca": [ran]})
    text = report.render(score(main, test_plan.target, states), "text")
    line = next(x for x in text.splitlines() if x.strip().startswith(TYPO))
    assert f"ran as {ran}: failed" in line
    assert "a typo in the guideline's test name" in line
    assert "6ca8ddfc-106f-4ecc-83f7-fca31d0c85ca" in line


# ----------------------------------------------------------- a broken back end


def _results(*tests: tuple[str, str, str]) -> Any:
    return SimpleNamespace(
        tests=[
            SimpleNamespace(test_id=i, status=st, reason=None, details={"traceback": d})
            for i, st, d in tests
        ]
    )


def test_dns_tests_failing_on_unpublished_zones_mean_the_back_end_is_broken() -> None:
    zone = "designate_tempest_plugin.tests.scenario.v2.test_zones.ZonesTest.test_x[id-1]"
    error = "InvalidStatusError: Zone with ID z1 returned unexpected status ERROR"
    results = _results((zone, "failed", error), ("heat_tempest_plugin.a.B.test_c", "passed", ""))
    reason = addons.dns_broken(addons.Leftovers(), results)
    assert reason == (
        "the DNS back end did not publish the zones of 1 DNS test(s) (they went to ERROR "
        f"or stayed PENDING): {zone}"
    )
    pending = "Zone z1 failed to 404 within the required time (120 s). Current status: PENDING"
    assert addons.unpublished(_results((zone, "failed", pending))) == [zone]
    # a DNS test failing for another reason, and nothing stuck: not the back end
    other = _results((zone, "failed", "AssertionError: 403 != 201"))
    assert addons.dns_broken(addons.Leftovers(), other) is None
    stuck = addons.Leftovers(stuck_zones=["zone a. (z2, CREATE PENDING)"])
    assert "did not publish 1 zone(s)" in (addons.dns_broken(stuck, other) or "")
    assert addons.dns_broken(stuck, _results((zone, "passed", ""))) is None
