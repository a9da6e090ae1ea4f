"""The Secret wrapper, the registry and the redacting log filter, case by case."""

from __future__ import annotations

import io
import logging
import pickle

import pytest

from terranb.redact import MASK, RedactingFilter, Secret, install_log_filter, redact, register

SK = "SKunit-5e1f0c9a7b3d2e4f6a8b"


def _handler() -> tuple[logging.Handler, io.StringIO]:
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    install_log_filter(handlers=[handler])
    return handler, buf


def test_secret_masks_repr_str_format_and_refuses_pickle():
    s = Secret(SK)
    assert SK not in repr(s) + str(s) + f"{s}" + f"{s!r}" + "{}".format(s)  # noqa: UP032
    assert s.reveal() == SK and s == SK and bool(s)
    with pytest.raises(TypeError):
        pickle.dumps(s)
    with pytest.raises(AttributeError):
        s._value = "x"  # type: ignore[misc]


def test_vars_of_clients_hold_no_secret_in_clear():
    from terranb.api.cloudapi import CloudApiClient
    from terranb.api.flighthub import FlightHubClient
    from terranb.api.terra import TerraClient

    terra = TerraClient(app_key="ak-unit", secret_key=SK, base_url="http://127.0.0.1:9")
    fh = FlightHubClient(user_token="UT" + SK, project_uuid="p", base_url="http://127.0.0.1:9")
    cloud = CloudApiClient(base_url="http://127.0.0.1:9", username="u", password="PW" + SK,
                           access_token="JWT" + SK)
    for client in (terra, fh, cloud):
        shown = vars(client)
        assert SK not in repr(shown) and SK not in str(shown), type(client).__name__
        # not even one level down (the settings the client keeps for reference)
        assert SK not in repr(vars(client.settings))


def test_registered_secret_is_masked_in_third_party_records():
    handler, buf = _handler()
    log = logging.getLogger("botocore.endpoint.secscan")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    try:
        register("FwoGZXIvYXdzEunit-token-value-123")
        headers = {"X-Amz-Security-Token": b"FwoGZXIvYXdzEunit-token-value-123",
                   "Authorization": b"AWS4-HMAC-SHA256 Credential=ASIAUNIT/20240101/us/s3/x"}
        log.debug("Sending %s", {"headers": headers})
        log.debug("CanonicalRequest:\nPUT\n/b/k\n\nhost:x\nx-amz-security-token:%s\n",
                  "unregistered-but-shaped-token")
        log.debug("Signature:\n%s", "ab" * 32)
    finally:
        log.removeHandler(handler)
    text = buf.getvalue()
    assert "FwoGZXIvYXdzEunit" not in text and "ASIAUNIT" not in text
    assert "unregistered-but-shaped-token" not in text and "ab" * 32 not in text
    assert text.count(MASK) >= 4


@pytest.mark.parametrize("line", [
    "GET /bucket/k.tif?X-Amz-Algorithm=AWS4&X-Amz-Credential=AKIA%2F2024&X-Amz-Signature=f00d",
    'Authorization: hmac username="ak", algorithm="hmac-sha256", headers="date", '
    'signature="c2lnbmF0dXJlLXZhbHVl"',
    "{'X-User-Token': 'org-key-value', 'X-Project-Uuid': 'p'}",
    "{'x-auth-token': 'eyJhbGciOiJIUzI1NiJ9.payload.sig'}",
    '{"secretAccessKey":"sk-json-value","sessionToken":"tok-json-value"}',
    "https://oss.example/k?OSSAccessKeyId=LTAIxxxx&Signature=abc%3D&security-token=CAIS",
])
def test_credential_shapes_are_masked(line):
    masked = redact(line)
    for needle in ("f00d", "AKIA", "c2lnbmF0dXJl", "org-key-value", "eyJhbGci", "sk-json-value",
                   "tok-json-value", "LTAIxxxx", "abc%3D", "CAIS"):
        assert needle not in masked, (line, masked)


def test_exception_text_is_masked_too():
    handler, buf = _handler()
    register("SKexc-0123456789abcdef")
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), None)
    try:
        raise RuntimeError("boom with SKexc-0123456789abcdef")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    handler.handle(record)
    assert "SKexc-0123456789abcdef" not in buf.getvalue() and "boom with ***" in buf.getvalue()


def test_filter_never_drops_and_is_installed_once():
    handler = logging.StreamHandler(io.StringIO())
    assert install_log_filter(handlers=[handler]) == 1
    assert install_log_filter(handlers=[handler]) == 0
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "bad %d format", ("x",), None)
    assert RedactingFilter().filter(record) is True


def test_short_values_are_not_registered():
    register("sk")
    assert redact("task skipped") == "task skipped"


def test_error_messages_are_masked():
    from terranb.errors import TransferError

    register("SKerr-0a1b2c3d4e5f60718293")
    exc = TransferError("GET https://b/k?X-Amz-Signature=deadbeef failed with "
                        "SKerr-0a1b2c3d4e5f60718293")
    assert "deadbeef" not in str(exc) and "SKerr" not in str(exc) and "failed with ***" in str(exc)
