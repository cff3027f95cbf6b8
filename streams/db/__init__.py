"""PostgreSQL access: SQLAlchemy engines (psycopg 3), Alembic migrations, writers and the model registry."""
