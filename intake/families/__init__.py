"""Families (家庭歸戶): records that concern the same child or household, linked.

Two records are linked when they share:

- a national ID (of the child, the victim, a respondent or a household member: any
  ``national_id`` field or table column): strength ``strong``;
- two or more people by name and date of birth (the same household members on two referrals):
  ``medium``; one such person: ``weak``.

Each link keeps its reasons (which field of each record matched, and how). A family is a group of
records connected by links; it keeps its id while it grows, and when a correction splits it the
largest part keeps the id. Rejected and superseded records take no part.

Identifying values are never stored for this: `FamilyKey` holds an HMAC-SHA256 of each (keyed
with ``INTAKE_SECRET_KEY``; changing the key needs ``intake families rebuild``).

`relink(session, record)` recomputes one record's keys, links and family in the caller's
transaction, after the record's data and status are set. Assembly calls it for every record it
creates or changes; the review station calls it after a correction, approval, rejection or
reopening (a corrected ID may move a record to another family). Families are for supervisors
and tokens with ``families:read``.
"""
