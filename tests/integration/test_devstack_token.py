"""``python -m devstack token``: a token of the local issuer that verifies
against the JWKS file the stack points the app at."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import jwt

from devstack import tokens
from devstack.paths import REPO_ROOT


def run_token(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "devstack", "token", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)


def verify(token: str) -> dict:
    jwks = json.loads(tokens.jwks_path().read_text())
    key = jwt.PyJWKSet.from_dict(jwks)[jwt.get_unverified_header(token)["kid"]]
    return jwt.decode(token, key.key, algorithms=["ES256"], audience="wallet-api",
                      issuer=tokens.LOCAL_ISSUER)


def test_the_token_is_alone_on_the_last_line_and_carries_the_claims():
    out = run_token("--role", "operator", "--claim", "mfa=true", "--claim", "cid=1101700230708",
                    "--claim", "beta=false")
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip().splitlines()[-1]
    claims = verify(token)
    assert claims["role"] == "operator"
    assert claims["mfa"] is True and claims["beta"] is False
    assert claims["cid"] == "1101700230708"
    assert claims["aud"] == "wallet-api" and claims["iss"] == tokens.LOCAL_ISSUER
    assert abs(claims["exp"] - (time.time() + 3600)) < 120
    assert claims["sub"]
    assert jwt.get_unverified_header(token)["alg"] == "ES256"


def test_sub_is_random_unless_given():
    first = verify(run_token("--role", "citizen").stdout.split()[-1])["sub"]
    second = verify(run_token("--role", "citizen").stdout.split()[-1])["sub"]
    given = verify(run_token("--role", "citizen", "--claim", "sub=abc").stdout.split()[-1])["sub"]
    assert first != second
    assert given == "abc"


def test_a_malformed_claim_is_refused_with_a_message():
    out = run_token("--role", "citizen", "--claim", "novalue")
    assert out.returncode == 2
    assert "key=value" in out.stderr
