"""Alembic environment for one tenant schema.

``tenants.migrate`` passes the connection and the (validated) schema name. The
revisions create tables with unqualified names; ``SET LOCAL search_path`` points
them at the tenant's schema for this transaction only, and the version table
lives in the tenant schema too, so every tenant carries its own revision.
"""

from alembic import context
from sqlalchemy import text

from services.core.db import TenantBase

connection = context.config.attributes["connection"]
schema = context.config.attributes["schema"]
connection.execute(text("SELECT set_config('search_path', :path, true)"), {"path": f'"{schema}"'})
context.configure(
    connection=connection,
    target_metadata=TenantBase.metadata,
    version_table_schema=schema,
    include_schemas=False,
)
with context.begin_transaction():
    context.run_migrations()
