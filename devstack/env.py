"""The environment the local stack and the tests run the backend with."""
from __future__ import annotations

from chalicelib.clock import CLOCK_FILE_ENV
from devstack import dynamodb_local, localsecrets, tokens

__all__ = ["LOCAL_REGION", "DEFAULT_SCHEDULE_RATE_S", "dummy_aws", "local_environment"]

LOCAL_REGION = "ap-southeast-1"
DEFAULT_SCHEDULE_RATE_S = 5


def dummy_aws() -> dict[str, str]:
    """Credentials that no real account accepts (the emulators take any)."""
    return {
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": LOCAL_REGION,
        "AWS_REGION": LOCAL_REGION,
    }


def local_environment(dynamodb_endpoint: str, aws_endpoint: str | None, stage: str = "local",
                      schedule_rate_s: int = DEFAULT_SCHEDULE_RATE_S,
                      clock_file: str | None = None) -> dict[str, str]:
    """Every WALLET_* variable of a local run: endpoints, the local issuer,
    DynamoDB Local's transaction limit, the generated secrets and, for the
    stack, the file of its movable clock (chalicelib/clock.py)."""
    _private, jwks = tokens.ensure_keys()
    env = dummy_aws()
    env.update({
        "WALLET_STAGE": stage,
        "WALLET_DYNAMODB_ENDPOINT": dynamodb_endpoint,
        "WALLET_JWKS_FILE": str(jwks),
        "WALLET_JWT_ISSUER": tokens.LOCAL_ISSUER,
        "WALLET_JWT_AUDIENCE": tokens.AUDIENCE,
        "WALLET_TRANSACTION_ITEM_LIMIT": str(dynamodb_local.TRANSACTION_ITEM_LIMIT),
        "WALLET_SCHEDULE_RATE_S": str(schedule_rate_s),
    })
    if aws_endpoint is not None:
        env["WALLET_SQS_ENDPOINT"] = aws_endpoint
        env["WALLET_S3_ENDPOINT"] = aws_endpoint
    if clock_file is not None:
        env[CLOCK_FILE_ENV] = clock_file
    env.update(localsecrets.load_or_create())
    return env
