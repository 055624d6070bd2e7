"""Records: the versioned data read from form instances, and the change feed downstream pulls."""
