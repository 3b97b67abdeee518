"""The enterprise ledger (台账, issue 14): pure nouns' validation, no I/O.

* :mod:`.credit`: the 统一社会信用代码 check character (GB 32100-2015).
* :mod:`.check`: one enterprise, street or user record checked field by field; every
  problem is a :class:`~.check.FieldError` naming its field, nothing is applied from a
  record with any.
* :mod:`.table`: the flat spreadsheet rows (CSV, XLSX) to and from records.

A record has the shape of the site file's tables (``[[enterprises]]`` with its devices,
``[[streets]]``, ``[[users]]``), so the live ledger and the site file build a
:class:`~warning.site.Site` through the same :func:`warning.config.parse_site`.
"""
