"""Alembic environment for the platform schema (tenant registry, keys, operators).

Run only through ``tenants.migrate``: it passes an open connection in
``config.attributes["connection"]``.
"""

from alembic import context

from services.core.db import PLATFORM_SCHEMA, PlatformBase

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=PlatformBase.metadata,
    version_table_schema=PLATFORM_SCHEMA,
    include_schemas=False,
)
with context.begin_transaction():
    context.run_migrations()
