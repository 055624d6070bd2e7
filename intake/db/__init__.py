"""The database: models (`intake.db.models`), sessions and counters (`intake.db.session`), and
the Alembic migrations (`intake db upgrade`)."""
