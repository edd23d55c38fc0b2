"""The pepper, data key and QR key come from Secrets Manager on AWS: read
once per cold start (chalicelib/secrets.py), then from the cache."""
from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from chalicelib import functions, pii, secrets
from chalicelib.config import get_settings, rebuild
from chalicelib.payments import service as payments_service

pytestmark = pytest.mark.functional

PEPPER = "pepper-from-secrets-manager-0123456789abcdef"
DATA_KEY = base64.b64encode(bytes(range(100, 132))).decode()


class CountingClient:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[str] = []

    def get_secret_value(self, SecretId: str) -> Any:
        self.calls.append(SecretId)
        return self.inner.get_secret_value(SecretId=SecretId)


@pytest.fixture
def stored(moto_aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[CountingClient]:
    client = boto3.client("secretsmanager", region_name=moto_aws.region)
    arns = {}
    for variable, value in (("WALLET_ID_PEPPER", PEPPER), ("WALLET_DATA_KEY", DATA_KEY)):
        name = f"wallet/test/{variable.lower()}-{id(monkeypatch)}"
        arns[variable] = client.create_secret(Name=name, SecretString=value)["ARN"]
        monkeypatch.delenv(variable, raising=False)
        monkeypatch.setenv(variable + secrets.ARN_SUFFIX, arns[variable])
    rebuild()
    yield CountingClient(client)
    rebuild()


def test_secrets_are_read_once_at_cold_start_and_used_from_then_on(stored):
    assert get_settings().id_pepper == ""  # not in the environment: a Lambda before load()
    assert secrets.load(stored) == ["WALLET_DATA_KEY", "WALLET_ID_PEPPER"]
    assert get_settings().id_pepper == PEPPER and get_settings().data_key == DATA_KEY
    assert len(stored.calls) == 2
    # the next request of the container: nothing fetched again
    assert secrets.load(stored) == [] and len(stored.calls) == 2
    hashed = pii.hash_id("1101700230708")
    assert "1101700230708" not in hashed and PEPPER not in hashed
    sealed = pii.encrypt("0812345678", "phone")
    assert pii.decrypt(sealed, "phone") == "0812345678"


def test_the_generated_data_key_entry_gives_a_stable_aes_key():
    generated = "Qm9v" * 16  # 64 letters and digits, as the stack generates them
    key = secrets.data_key_from_secret(generated)
    assert len(base64.b64decode(key)) == 32 and key == secrets.data_key_from_secret(generated)
    assert secrets.data_key_from_secret(DATA_KEY) == DATA_KEY  # already a key: used as it is


def test_an_unreadable_secret_is_named_without_its_value(stored, monkeypatch):
    monkeypatch.setenv("WALLET_QR_SIGNING_KEY", "")
    monkeypatch.setenv("WALLET_QR_SIGNING_KEY" + secrets.ARN_SUFFIX,
                       "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:wallet/test/missing-AbCdEf")
    with pytest.raises(secrets.SecretsUnavailableError, match="WALLET_QR_SIGNING_KEY") as caught:
        secrets.load(stored)
    assert PEPPER not in str(caught.value) and "ResourceNotFoundException" in str(caught.value)


def _entry(client: CountingClient, monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> str:
    arn = client.inner.create_secret(Name=f"wallet/test/{variable.lower()}-{id(monkeypatch)}",
                                     SecretString=value)["ARN"]
    monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv(variable + secrets.ARN_SUFFIX, arn)
    return str(arn)


def test_the_previous_qr_key_is_optional_read_once_and_cached(stored, monkeypatch):
    # Between rotations the entry holds the stack's marker: no previous key, no error, no second read.
    _entry(stored, monkeypatch, "WALLET_QR_PREVIOUS_SIGNING_KEY", functions.NO_SECRET)
    assert "WALLET_QR_PREVIOUS_SIGNING_KEY" in secrets.load(stored)
    assert get_settings().qr_previous_signing_key == "" and get_settings().id_pepper == PEPPER
    reads = len(stored.calls)
    assert secrets.load(stored) == [] and len(stored.calls) == reads
    assert payments_service.qr_verifying_keys() == (payments_service.qr_signing_key(),)


def test_during_a_rotation_qrs_of_the_previous_key_verify(stored, monkeypatch):
    old_key = "the-qr-key-before-the-rotation-0123456789"
    _entry(stored, monkeypatch, "WALLET_QR_PREVIOUS_SIGNING_KEY", old_key)
    secrets.load(stored)
    assert get_settings().qr_previous_signing_key == old_key
    assert payments_service.qr_verifying_keys()[1] == old_key.encode()
    reads = len(stored.calls)
    assert secrets.load(stored) == [] and len(stored.calls) == reads  # cached for the container
