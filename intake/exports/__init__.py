"""Exports of a template version's records as CSV or JSON Lines, streamed, and its codebook.

`codebook.columns(template)` defines the CSV columns, stable and documented (a version's columns
never change: a new column comes with a new template version):

- record columns first: ``record_id, revision, status, read_version, batch_id, created_at,
  updated_at`` (``read_version``: the version of the form the record was read from; it differs
  from the exported version only with ``--all-versions``, where older records are converted);
- then every field in template order: one column per text-like field (``child_name``), checkbox
  and signature (``1``/``0``), single choice (the option's code); one column per option of a
  multiple choice (``report_reasons__art49_prohibited_acts``: ``1`` if marked, else ``0``); one
  column per printed row and column of a table (``household_members__1__name``: rows numbered from
  1 in the order of the record's rows, which leaves out rows left blank on paper); computed values
  last. An empty value is an empty cell.

JSON Lines: one record per line, as the feed gives it (``id``, ``revision``, ``status``,
``template``, ``template_version``, ``read_version``, ``data`` ...).

`service.export_lines` is a generator over a query read in chunks (``yield_per``), so memory
stays flat however many records there are (see bench/export).
"""
