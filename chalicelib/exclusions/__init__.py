"""Exclusion lists (welfare-card holders, prisoners, ...) keyed by hashed ID.

- ``service``: the lists' reads and writes (``lists_containing``,
  ``import_list``, ``list_sizes``);
- ``imports``: the asynchronous import of a list, chunk by chunk (its queue);
- ``requests``: what the routes parse and answer;
- ``models``: the tables.

Import the module you need: this file imports nothing, so that the routes'
declarations read ``requests`` without the database layer.
"""
