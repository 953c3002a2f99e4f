"""Standard Webhooks signatures, checked against HMACs this test computes itself."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from pydantic import SecretStr, ValidationError

from core.events.webhooks import (
    WebhookEndpoint,
    WebhookSecretError,
    secret_key,
    signature_headers,
    without_query,
)
from infra.settings import Settings

KEY_A = bytes(range(32))
KEY_B = b"\xff" * 24
SECRET_A = "whsec_" + base64.b64encode(KEY_A).decode()
SECRET_B = "whsec_" + base64.b64encode(KEY_B).decode()
BODY = '{"specversion":"1.0","id":"e-1","type":"ffapi.job.completed","data":{"ok":"\u00e9"}}'


def expected(key: bytes, msg_id: str, ts: int, body: str) -> str:
    mac = hmac.new(key, f"{msg_id}.{ts}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def test_the_headers_carry_id_timestamp_and_the_hmac_of_id_timestamp_and_body() -> None:
    headers = signature_headers([SecretStr(SECRET_A)], "e-1", 1_700_000_000, BODY)

    assert headers == {
        "webhook-id": "e-1",
        "webhook-timestamp": "1700000000",
        "webhook-signature": expected(KEY_A, "e-1", 1_700_000_000, BODY),
    }


def test_a_fixed_vector() -> None:
    # Computed outside Python: printf 'msg_1.1674087231.{}' | openssl dgst -sha256 -mac HMAC
    #   -macopt hexkey:000102...1f -binary | base64
    headers = signature_headers([SecretStr(SECRET_A)], "msg_1", 1674087231, "{}")
    assert headers["webhook-signature"] == "v1,BxU1mYCBV2ldG2HAG6MnEv0UJfY6XIfbCpPpj/9VI/Y="


def test_every_secret_signs_while_one_is_rotated_out() -> None:
    headers = signature_headers([SecretStr(SECRET_A), SecretStr(SECRET_B)], "e-1", 5, BODY)

    assert headers["webhook-signature"].split(" ") == [
        expected(KEY_A, "e-1", 5, BODY),
        expected(KEY_B, "e-1", 5, BODY),
    ]


def test_a_changed_body_id_or_timestamp_changes_the_signature() -> None:
    base = signature_headers([SecretStr(SECRET_A)], "e-1", 5, BODY)["webhook-signature"]
    for args in (("e-2", 5, BODY), ("e-1", 6, BODY), ("e-1", 5, BODY + " ")):
        assert signature_headers([SecretStr(SECRET_A)], *args)["webhook-signature"] != base


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        (base64.b64encode(KEY_A).decode(), "must start with 'whsec_'"),
        ("whsk_" + base64.b64encode(KEY_A).decode(), "must start with 'whsec_'"),
        ("whsec_not*base64!", "standard base64"),
        ("whsec_" + base64.b64encode(KEY_A).decode()[:-3], "standard base64"),  # bad padding
        ("whsec_" + base64.b64encode(b"short").decode(), "24 to 64 bytes, not 5"),
        ("whsec_" + base64.b64encode(b"x" * 65).decode(), "24 to 64 bytes, not 65"),
        ("whsec_", "24 to 64 bytes, not 0"),
    ],
)
def test_a_malformed_secret_is_refused_without_repeating_it(secret: str, why: str) -> None:
    with pytest.raises(WebhookSecretError, match=r"whsec_|base64|bytes") as info:
        secret_key(secret)
    assert why in str(info.value)
    encoded = secret.removeprefix("whsec_")
    assert len(encoded) < 8 or encoded not in str(info.value)


def test_settings_refuse_a_bad_secret_at_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FFAPI_WEBHOOK_SECRETS", '["whsec_not*base64!"]')
    with pytest.raises(ValidationError, match="standard base64"):
        Settings()
    monkeypatch.setenv("FFAPI_WEBHOOK_SECRETS", f'["{SECRET_A}", "{SECRET_B}"]')
    monkeypatch.setenv(
        "FFAPI_WEBHOOK_ENDPOINTS", '[{"url": "https://hooks.example/x", "secrets": ["nope"]}]'
    )
    with pytest.raises(ValidationError, match="must start with 'whsec_'"):
        Settings()
    monkeypatch.setenv(
        "FFAPI_WEBHOOK_ENDPOINTS",
        f'[{{"url": "https://hooks.example/x", "secrets": ["{SECRET_B}"]}}]',
    )
    settings = Settings()
    assert [s.get_secret_value() for s in settings.webhook_secrets] == [SECRET_A, SECRET_B]
    assert settings.webhook_endpoints[0].secrets[0].get_secret_value() == SECRET_B
    assert SECRET_B not in repr(settings)  # SecretStr: never printed


def test_an_endpoint_needs_a_secret() -> None:
    with pytest.raises(ValidationError):
        WebhookEndpoint(url="https://hooks.example/x", secrets=())


def test_nothing_to_sign_with_and_dotted_ids_are_refused() -> None:
    with pytest.raises(WebhookSecretError):
        signature_headers([], "e-1", 5, BODY)
    with pytest.raises(ValueError, match=r"'\.'"):
        signature_headers([SecretStr(SECRET_A)], "e.1", 5, BODY)


def test_records_and_logs_show_an_endpoint_without_its_query_or_user_info() -> None:
    url = "https://user:pw@hooks.example:8443/in/ffapi?token=s3cret#frag"
    assert without_query(url) == "https://hooks.example:8443/in/ffapi"
