"""The S3 proxy's signature code against AWS's documented SigV4 examples and botocore's SigV2."""

from __future__ import annotations

from terranb.emulator import sigv4

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_header_signature_matches_aws_example_get_object():
    # AWS S3 docs, "Example: GET Object" (sig-v4-header-based-auth).
    headers = {
        "host": "examplebucket.s3.amazonaws.com",
        "range": "bytes=0-9",
        "x-amz-content-sha256": EMPTY_SHA256,
        "x-amz-date": "20130524T000000Z",
        "authorization": "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/"
        "s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    }
    req = sigv4.parse_authorization(headers, [])
    assert req is not None and req.access_key_id == "AKIAIOSFODNN7EXAMPLE"
    canonical = sigv4.canonical_request(sigv4.SentRequest("GET", "/test.txt", [], headers), req)
    assert sigv4.signature(SECRET, req, canonical) == req.signature
    assert sigv4.signature("wrong", req, canonical) != req.signature


def test_presigned_signature_matches_aws_example():
    # AWS S3 docs, "Authenticating Requests: Using Query Parameters" example.
    query = (
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2F"
        "us-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&"
        "X-Amz-SignedHeaders=host&X-Amz-Signature="
        "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    )
    pairs = sigv4.parse_query(query)
    headers = {"host": "examplebucket.s3.amazonaws.com"}
    req = sigv4.parse_authorization(headers, pairs)
    assert req is not None and req.presigned and req.expires == 86400
    canonical = sigv4.canonical_request(sigv4.SentRequest("GET", "/test.txt", pairs, headers), req)
    assert sigv4.signature(SECRET, req, canonical) == req.signature
    assert sigv4.parse_amz_date(req.amz_date) == 1369353600.0


def test_sigv2_query_signature_matches_botocore():
    from urllib.parse import urlsplit

    import botocore.session

    client = botocore.session.get_session().create_client(
        "s3",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9000",
        aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
        aws_secret_access_key=SECRET,
        aws_session_token="token-123",
    )
    url = client.generate_presigned_url(
        "get_object", Params={"Bucket": "bkt", "Key": "a b/ü.txt"}, ExpiresIn=60
    )
    parts = urlsplit(url)
    pairs = sigv4.parse_query(parts.query)
    req = sigv4.parse_v2({}, pairs)
    assert req is not None and req.presigned and req.session_token == "token-123"
    get = sigv4.SentRequest("GET", parts.path, pairs, {})
    assert sigv4.signature_v2(SECRET, get, req) == req.signature
    assert sigv4.signature_v2(SECRET, get._replace(method="PUT"), req) != req.signature


def test_malformed_authorization_is_rejected():
    import pytest

    with pytest.raises(ValueError):
        sigv4.parse_authorization({"authorization": "AWS4-HMAC-SHA256 nonsense"}, [])
    assert sigv4.parse_authorization({}, []) is None
    assert sigv4.parse_v2({}, []) is None
