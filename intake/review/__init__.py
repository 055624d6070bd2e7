"""The review station: supervisors turn records that need a person into approved (or rejected)
ones. `service` holds the logic (queue, claims, corrections, approval, history, group
verification, spot-check statistics), `routes` the API, `reasons` the words for every reason
code; the pages are in `intake.web.review`."""
