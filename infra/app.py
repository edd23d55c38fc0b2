"""The CDK app: one stack per stage (``--context stage=prod``).

    make synth                                   # cdk.out/<stage>.template.json, then cfn-lint
    infra/node_modules/.bin/cdk deploy --context stage=prod

See README "Deploying to AWS".
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import aws_cdk as cdk

from infra.stack import StageConfig, WalletStack

__all__ = ["FEATURE_FLAGS", "build", "main"]

CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"

# CDK behaviours that a new app should have; set here so that a synth
# without the CLI (the tests) builds the same template as `cdk synth`.
FEATURE_FLAGS = {
    # Access logs delivered under a bucket policy, not the legacy ACL.
    "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
}


def build(app: cdk.App | None = None) -> WalletStack:
    # Chalice's packager asks botocore for the region's service principals;
    # a synth without an AWS profile uses the program's region.
    os.environ.setdefault("AWS_DEFAULT_REGION", os.environ.get("AWS_REGION", "ap-southeast-1"))
    app = app or cdk.App()
    for flag, value in FEATURE_FLAGS.items():
        if app.node.try_get_context(flag) is None:
            app.node.set_context(flag, value)
    # cdk.json's context (the launch's warm throughput, the banks' accounts)
    # also when the app runs without the cdk CLI, which is what reads it.
    for key, value in json.loads(CDK_JSON.read_text()).get("context", {}).items():
        if app.node.try_get_context(key) is None:
            app.node.set_context(key, value)
    config = StageConfig.from_context(app.node)
    return WalletStack(app, config)


def main() -> None:
    stack = build()
    cdk.App.of(stack).synth()  # type: ignore[union-attr]


if __name__ == "__main__":
    main()
