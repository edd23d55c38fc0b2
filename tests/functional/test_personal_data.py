"""Personal data of the security review: envelope encryption (a local
key-encryption key here and in the devstack, KMS on AWS), and a whole
scenario run with every logger at DEBUG that proves no national ID, phone,
card code, PIN, bank account number or bearer token appears in any log line
or in clear in any table."""
from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import boto3
import pytest
from cryptography.exceptions import InvalidTag

from chalicelib import db, pii
from chalicelib.config import rebuild
from chalicelib.registration.models import BenefitModel
from devstack import tokens
from tests.functional.registration_fixtures import (
    Api,
    ledger_credit,
    phase_body,
    valid_cid,
)

pytestmark = pytest.mark.functional


# -- envelope encryption -------------------------------------------------------------


def test_values_are_sealed_under_a_wrapped_data_key_bound_to_their_record(moto_aws: Any) -> None:
    sealed = pii.encrypt("0812345678", "registration:r1")
    assert sealed.startswith("v2.l") and "0812345678" not in sealed
    assert pii.decrypt(sealed, "registration:r1") == "0812345678"
    with pytest.raises(InvalidTag):
        pii.decrypt(sealed, "registration:r2")  # moved to another record
    # One data key serves many values; each value has its own nonce.
    again = pii.encrypt("0812345678", "registration:r1")
    assert again != sealed and again.split(".")[1] == sealed.split(".")[1]


def test_values_written_before_envelope_encryption_still_decrypt(moto_aws: Any) -> None:
    import base64
    import os

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    key = base64.b64decode(moto_aws.data_key)
    nonce = os.urandom(12)
    legacy = base64.b64encode(nonce + AESGCM(key).encrypt(nonce, b"1234567890", b"merchant:m1")).decode()
    assert pii.decrypt(legacy, "merchant:m1") == "1234567890"


def test_on_aws_kms_wraps_the_data_keys_one_call_for_many_values(moto_aws: Any,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    key_id = boto3.client("kms", region_name=moto_aws.region).create_key()["KeyMetadata"]["KeyId"]
    monkeypatch.setenv("WALLET_KMS_KEY_ID", key_id)
    calls: list[str] = []

    def count_kms_calls() -> None:
        rebuild()
        pii._kms(moto_aws.region).meta.events.register("before-call.kms.*",
                                                        lambda model, **_: calls.append(model.name))

    count_kms_calls()
    sealed = [pii.encrypt(f"08{n:08d}", f"registration:r{n}") for n in range(50)]
    assert all(s.startswith("v2.k") for s in sealed) and calls == ["GenerateDataKey"]
    count_kms_calls()  # another container: its own data keys, unwrapped again
    assert [pii.decrypt(s, f"registration:r{n}") for n, s in enumerate(sealed)] == [
        f"08{n:08d}" for n in range(50)]
    assert calls == ["GenerateDataKey", "Decrypt"]


# -- a whole scenario at DEBUG -----------------------------------------------------------


def _card_payment(api: Api, shop: str, code: str, pin: str, amount: int) -> Any:
    return api.client.http.post("/v1/card-payments", headers={
        "Authorization": f"Bearer {shop}", "Content-Type": "application/json",
        "Idempotency-Key": uuid.uuid4().hex},
        body=json.dumps({"card_code": code, "pin": pin, "amount_satang": amount, "category": "food"}))


def _all_items() -> str:
    client = boto3.client("dynamodb", region_name="ap-southeast-1")
    out = []
    for model in db.registered_models():
        for page in client.get_paginator("scan").paginate(TableName=model.Meta.table_name):
            out.append(str(page["Items"]))
    return "\n".join(out)


def test_no_personal_data_or_secret_in_any_log_line_or_table(api: Api, monkeypatch: pytest.MonkeyPatch,
                                                             caplog: pytest.LogCaptureFixture,
                                                             capfd: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    caplog.set_level(logging.DEBUG)
    for name in ("", "botocore", "boto3", "pynamodb", "urllib3"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        logging.getLogger(name).setLevel(logging.DEBUG)

    citizen_cid, assisted_cid, owner_cid = valid_cid(501), valid_cid(502), valid_cid(503, "3")
    phone, pin, new_pin, account_no = "0891234567", "739164", "915273", "4455667788"
    api.put_phase("p3", phase_body())
    operator = api.operator()
    citizen_token = api.citizen(citizen_cid)
    reply = api.call("POST", "/v1/registrations", citizen_token, {"phase_id": "p3", "consent": True, "phone": phone})
    assert reply.status == 201
    body = {"phase_id": "p3", "cid": assisted_cid, "birth_date": "2006-05-01", "district": "1001",
            "consent": True, "pin": pin}
    first_code = api.call("POST", "/v1/assisted-registrations", api.registrar(), body).body["card_code"]
    code = api.call("POST", "/v1/cards/reissue", api.registrar(), {
        "cid": assisted_cid, "birth_date": "2006-05-01", "district": "1001", "pin": pin}).body["card_code"]
    assert api.call("POST", "/v1/admin/merchant-reference", operator, {"merchants": [
        {"tax_id": "0105537000015", "size_class": "small", "tax_compliant": True,
         "owner_cid": owner_cid}]}).status == 200
    shop = tokens.mint("merchant", {"cid": owner_cid})
    assert api.call("POST", "/v1/merchants", shop, {
        "name": "Noodle Stall", "tax_id": "0105537000015", "business_type": "restaurant", "size_class": "small",
        "district": "1001", "location": {"lat": 13.75, "lon": 100.5},
        "bank": {"bank_code": "004", "account_no": account_no}}).status == 201
    for benefit in BenefitModel.scan():
        ledger_credit(benefit.wallet_id)
    paid = _card_payment(api, shop, code, pin, 5000)
    assert paid.status_code == 201, paid.body
    for _ in range(5):
        _card_payment(api, shop, code, "000001", 100)
    assert api.call("POST", "/v1/cards/unlock", api.registrar(), {
        "card_code": code, "cid": assisted_cid, "birth_date": "2006-05-01", "pin": new_pin}).status == 200
    api.call("GET", "/v1/me", citizen_token)
    api.call("GET", "/v1/wallet/transactions", citizen_token)
    api.call("GET", "/v1/merchants/me", shop)

    logged = "\n".join(record.getMessage() + " " + str(record.__dict__) for record in caplog.records)
    captured = capfd.readouterr()
    logged += "\n" + captured.out + "\n" + captured.err
    # The loggers did talk, down to the bodies botocore sends to DynamoDB.
    assert len(caplog.records) > 100 and "phone_enc" in logged and "account_no_enc" in logged
    stored = _all_items()
    secrets = {"national ID": [citizen_cid, assisted_cid, owner_cid], "phone": [phone], "PIN": [pin, new_pin],
               "card code": [code, first_code, code.replace("-", "")], "bank account": [account_no],
               "bearer token": [citizen_token, shop, operator, citizen_token.split(".")[2]]}
    for kind, values in secrets.items():
        for value in values:
            assert value not in logged, f"a {kind} in the logs"
            assert value not in stored, f"a {kind} in clear in a table"
