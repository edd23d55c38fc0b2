"""The local development stack: DynamoDB Local, moto server for SQS and S3,
the Chalice app, a pump that plays Lambda's event sources, and a local token
issuer. Local-only code: it lives outside ``chalicelib`` so it is never
deployed. Entry point: ``python -m devstack run|token`` (see ``__main__``).
"""
