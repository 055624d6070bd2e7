"""Open statistics without personal data (`GET /api/v1/stats`, `intake stats`, the page /stats).

Counts of records with status accepted or approved, by template, report category, county or city,
and month; cells below ``INTAKE_STATS_THRESHOLD`` (default 5, never below 3) withheld, with
complementary suppression audited by linear programming (`suppression`) so that no withheld cell
can be recovered from totals or by subtracting overlapping tables.

What a record is counted by (the latest version of its template decides; older records are
converted to it first, so a renamed option counts as its new name):

- month: the template's ``statistics.month`` date field, by default its first required date field
  (the report or referral date); ``unknown`` when empty;
- county or city: the county at the start of ``statistics.county``, by default the template's first
  address field (the child's, the victim's, the family's); ``unknown`` when it names none;
- report category: ``statistics.category``: one choice field, whose options are the categories,
  or several choice fields, each a category when anything in it is marked. By default the first
  required multiple choice (child_protection: the grounds of the report; domestic_violence: the
  kinds of violence), else the fields of the first ``at_least_one`` rule over choices
  (vulnerable_family: the seven risk categories). A record may be in several categories, and in
  ``none`` when it is in no category.
"""
