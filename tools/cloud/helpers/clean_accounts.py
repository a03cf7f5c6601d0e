"""Empty the Swift accounts of the Tempest test accounts and drop their quotas.

A Tempest run that dies half-way leaves containers and account quotas behind in
the pre-provisioned accounts, and later runs then fail on listings or quotas
they did not set. Run it between runs when that happened:

    ~/.cache/tcup-dev/cloud-venv/bin/python tools/cloud/helpers/clean_accounts.py .cloud

It acts as a reseller admin (tcup-account-5), who may write any account.
"""

from __future__ import annotations

import sys
from pathlib import Path

import swiftclient
import yaml
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

AUTH_URL = "http://127.0.0.1:5000/v3"
SWIFT = "http://127.0.0.1:8080/v1/AUTH_"


def login(account: dict) -> ks_session.Session:
    auth = v3.Password(
        auth_url=AUTH_URL,
        username=account["username"],
        password=account["password"],
        project_name=account["project_name"],
        user_domain_name=account["user_domain_name"],
        project_domain_name=account["project_domain_name"],
    )
    return ks_session.Session(auth=auth)


def clean(state: Path) -> int:
    accounts = yaml.safe_load((state / "accounts.yaml").read_text())
    reseller = next(a for a in accounts if a["roles"] == ["ResellerAdmin"])
    token = login(reseller).get_token()
    removed = 0
    for project_id in sorted({login(a).get_project_id() for a in accounts}):
        url = SWIFT + project_id
        _, containers = swiftclient.get_account(url, token, full_listing=True)
        for container in containers:
            _, objects = swiftclient.get_container(url, token, container["name"], full_listing=True)
            for obj in objects:
                swiftclient.delete_object(url, token, container["name"], obj["name"])
            swiftclient.delete_container(url, token, container["name"])
            removed += 1
        swiftclient.post_account(
            url,
            token,
            {"X-Remove-Account-Meta-Quota-Bytes": "x", "X-Remove-Account-Meta-Temp-URL-Key": "x"},
        )
    print(f"removed {removed} containers; cleared account quotas")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(clean(Path(sys.argv[1])))
