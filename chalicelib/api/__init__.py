"""The HTTP edge: one Chalice blueprint per module, registered in app.py.

Each module exposes ``bp`` (its Blueprint) and ``OPENAPI_PATHS`` (the
OpenAPI path items of its routes); chalicelib.openapi builds the document
from them, and a test checks the document against the app's routes.
"""
