"""The DPO's audit receipt: downloaded from the dashboard by DPOs only, audited, signed
with the deployment's key, and carried by the retention report."""

from __future__ import annotations

import json

from flask.testing import FlaskClient

from storage.audit.receipts import parse_receipt
from tests.unit.webapp.helpers import audit_actions, text
from tests.webapp_fixtures import LoginAs
from webapp.composition import Services


def test_a_dpo_downloads_a_signed_receipt_and_it_is_audited(
    client: FlaskClient, login_as: LoginAs, services: Services
) -> None:
    uid = login_as(client, "dpo")
    assert "Download a signed receipt" in text(client.get("/dpo/audit/verify"))
    response = client.get("/dpo/audit/receipt.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["Cache-Control"] == "no-store"
    assert services.audit.checkpoints is not None
    checkpoint = parse_receipt(response.get_data(), services.audit.checkpoints.public_key)
    (entry,) = audit_actions(services, "audit.receipt")
    assert entry.actor_id == uid and entry.target_id == checkpoint.name
    assert entry.details == {"seq": checkpoint.seq, "head_hash": checkpoint.head_hash}


def test_only_dpos_get_receipts(client: FlaskClient, login_as: LoginAs, services: Services) -> None:
    for role in ("admin", "supervisor", "facilitator"):
        login_as(client, role)
        assert client.get("/dpo/audit/receipt.json").status_code in {403, 404}
        client.get("/logout")
    assert audit_actions(services, "audit.receipt") == []
    login_as(client, "admin")
    assert "Download a signed receipt" not in text(client.get("/dpo/audit/verify"))


def test_the_retention_report_carries_a_receipt(
    client: FlaskClient, login_as: LoginAs, services: Services
) -> None:
    login_as(client, "dpo")
    body = client.get("/dpo/audit/retention-report.csv").get_data(as_text=True)
    (line,) = [row for row in body.splitlines() if row.startswith("audit_receipt,")]
    receipt = json.loads(line[line.index('"{') + 1 : line.rindex('}"') + 1].replace('""', '"'))
    assert services.audit.checkpoints is not None
    checkpoint = parse_receipt(json.dumps(receipt).encode(), services.audit.checkpoints.public_key)
    assert audit_actions(services, "audit.receipt")[-1].details["seq"] == checkpoint.seq
