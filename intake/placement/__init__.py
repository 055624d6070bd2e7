"""Pages the pipeline could not place (unidentified, unregistered, blank): a supervisor places
them on a template page, clicks their four corners, or sets them aside. See `service`."""
