-- What PostGraphile sees in bench/list_vs_bare.py: the list's four tables, narrowed to the columns the list
-- selects, as plain views (PostgreSQL inlines them: the plan is the one over the tables) in a schema of their
-- own, so nothing else of the tenant is exposed. Smart comments give the views their primary and foreign keys
-- (views have none) and the relations the real app's names: owner, responsibleDepartment, category.
-- Run by the bench after its fixtures, in its own database, against tenant "bench" (schema tenant_bench).
CREATE SCHEMA postgraphile_bench;

CREATE VIEW postgraphile_bench.users AS
  SELECT id, display_name FROM tenant_bench.users;
CREATE VIEW postgraphile_bench.org_units AS
  SELECT id, name FROM tenant_bench.org_units;
CREATE VIEW postgraphile_bench.categories AS
  SELECT id, name FROM tenant_bench.categories;
CREATE VIEW postgraphile_bench.complaints AS
  SELECT id, number, status, title, created_at, owner_id, responsible_department_id, category_id
  FROM tenant_bench.complaints;

COMMENT ON VIEW postgraphile_bench.users IS '@primaryKey id';
COMMENT ON VIEW postgraphile_bench.org_units IS '@primaryKey id';
COMMENT ON VIEW postgraphile_bench.categories IS '@primaryKey id';
COMMENT ON VIEW postgraphile_bench.complaints IS E'@primaryKey id\n'
  '@foreignKey (owner_id) references postgraphile_bench.users (id)|@fieldName owner\n'
  '@foreignKey (responsible_department_id) references postgraphile_bench.org_units (id)|@fieldName responsibleDepartment\n'
  '@foreignKey (category_id) references postgraphile_bench.categories (id)|@fieldName category';

-- Non-null where the tables (and the real app's schema) are.
COMMENT ON COLUMN postgraphile_bench.users.id IS '@notNull';
COMMENT ON COLUMN postgraphile_bench.users.display_name IS '@notNull';
COMMENT ON COLUMN postgraphile_bench.org_units.id IS '@notNull';
COMMENT ON COLUMN postgraphile_bench.org_units.name IS '@notNull';
COMMENT ON COLUMN postgraphile_bench.categories.id IS '@notNull';
COMMENT ON COLUMN postgraphile_bench.categories.name IS '@notNull';
COMMENT ON COLUMN postgraphile_bench.complaints.id IS '@notNull';
COMMENT ON COLUMN postgraphile_bench.complaints.number IS '@notNull';
COMMENT ON COLUMN postgraphile_bench.complaints.status IS '@notNull';
COMMENT ON COLUMN postgraphile_bench.complaints.title IS '@notNull';
COMMENT ON COLUMN postgraphile_bench.complaints.created_at IS '@notNull';
COMMENT ON COLUMN postgraphile_bench.complaints.owner_id IS '@notNull';
