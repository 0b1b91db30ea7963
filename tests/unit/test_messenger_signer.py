"""The messenger's fixed-shape SigV4 signer against botocore's own ``SigV4Auth`` (real botocore).

For the same request (method, URL, body, credentials, instant) both must produce the same
``X-Amz-Date``, session token and ``Authorization`` header: across dates (leap day, year end, a
cached day's key reused and then replaced), regions, stages, ports, methods and connection ids that
need URL-encoding. botocore's clock is set by replacing ``botocore.auth.get_current_datetime``.
"""
from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import quote

import botocore.auth
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from websocket_service.messenger import ConnectionsSigner, _SignedPoster, host_header, region_of

DATES = [datetime(2024, 2, 29, 23, 59, 59, tzinfo=timezone.utc), datetime(2026, 12, 31, 23, 59, 59, tzinfo=timezone.utc),
         datetime(2027, 1, 1, 0, 0, 0, tzinfo=timezone.utc)]
ENDPOINTS = ["https://abc123.execute-api.us-east-1.amazonaws.com/prod",
             "https://Z9y8X7.execute-api.eu-central-1.amazonaws.com/dev_2",
             "https://q1.execute-api.ap-southeast-2.amazonaws.com:8443/v1",
             "http://127.0.0.1:3001/local"]
IDS = ["BFHPhfCWIAMCKlQ=", "a/b+c==", "x~y.z-_", "..", "ümlaut id"]
PERMANENT = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
TEMPORARY = Credentials("ASIAEXAMPLE", "secret/with+chars", "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJH")


def botocore_headers(monkeypatch: pytest.MonkeyPatch, when: datetime, method: str, endpoint: str, path: str,
                     payload: bytes, credentials: Credentials) -> dict[str, str]:
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: when)
    base = endpoint[: endpoint.index("/", len("https://"))]
    request = AWSRequest(method=method, url=base + path, data=payload)
    SigV4Auth(credentials, "execute-api", region_of(endpoint)).add_auth(request)
    return dict(request.headers.items())


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("credentials", [PERMANENT, TEMPORARY], ids=["permanent", "session-token"])
def test_signatures_equal_botocore_across_dates_regions_paths_and_methods(
        monkeypatch: pytest.MonkeyPatch, endpoint: str, credentials: Credentials) -> None:
    signer = ConnectionsSigner(host_header(endpoint), region_of(endpoint))  # one signer: its key cache is exercised
    stage_path = endpoint.split("/", 3)[3]
    checked = 0
    for when in DATES:
        for connection_id in IDS:
            for method, payload in (("POST", b'{"type":"verified"}'), ("GET", b""), ("DELETE", b"")):
                path = f"/{stage_path}/@connections/{quote(connection_id, safe='')}"
                expected = botocore_headers(monkeypatch, when, method, endpoint, path, payload, credentials)
                ours = signer.headers(method, path, payload, access_key=credentials.access_key,
                                      secret_key=credentials.secret_key, token=credentials.token,
                                      timestamp=when.strftime("%Y%m%dT%H%M%SZ"))
                assert ours == expected, (when, connection_id, method)
                checked += 1
    assert checked == len(DATES) * len(IDS) * 3


def test_the_signing_key_is_derived_once_per_day_and_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    signer = ConnectionsSigner("abc.execute-api.us-east-1.amazonaws.com", "us-east-1")
    first = signer.signing_key("s1", "20261203")
    assert signer.signing_key("s1", "20261203") is first  # cached
    assert signer.signing_key("s1", "20261204") != first  # a new day, a new key
    assert signer.signing_key("s2", "20261204") != signer.signing_key("s1", "20261204")  # rotated secret


def test_the_poster_sends_what_botocore_would_sign(monkeypatch: pytest.MonkeyPatch) -> None:
    """The poster's own request path and host feed the signer exactly as botocore derives them from the URL."""
    endpoint = "https://abc123.execute-api.eu-west-1.amazonaws.com/prod"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", PERMANENT.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", PERMANENT.secret_key)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    poster = _SignedPoster(endpoint, region_of(endpoint), 1)
    try:
        when = datetime(2026, 12, 3, 12, 0, 0, tzinfo=timezone.utc)
        path = f"/prod/@connections/{quote('BFHPhfCWIAMCKlQ=', safe='')}"
        ours = poster._signer.headers("POST", path, b"hi", access_key=PERMANENT.access_key,
                                      secret_key=PERMANENT.secret_key, timestamp=when.strftime("%Y%m%dT%H%M%SZ"))
        assert ours == botocore_headers(monkeypatch, when, "POST", endpoint, path, b"hi", PERMANENT)
        assert poster._signer.host == "abc123.execute-api.eu-west-1.amazonaws.com"
    finally:
        poster.close()
