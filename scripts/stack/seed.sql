-- Seed of the test stack's "production" database, shaped like a Directus
-- install. Run once by scripts/test-stack inside a single transaction
-- (psql -1 -v ON_ERROR_STOP=1) as the superuser `directus`. Deterministic:
-- no random(), no now().
--
-- 240 user tables in 4 schemas:
--   public     28 directus_* system tables + 100 app tables + dot_tools   = 129
--   app        50 tables + workflow_runs (owned by role workflow_admin)   =  51
--   analytics  40 tables
--   legacy     20 tables
-- Every table has rows (1..29, a handful a few hundred).
--
-- Role workflow_admin (NOLOGIN) owns app.workflow_runs, is granted SELECT on a
-- few tables and is named by a row-level-security policy. A `pg_dump -Fc` of
-- this database restored into a fresh instance with
--   pg_restore --no-owner --no-privileges --clean --if-exists
-- therefore fails on exactly one statement (CREATE POLICY ... TO
-- workflow_admin: role "workflow_admin" does not exist) while every table and
-- row is restored; pg_restore exits 1.

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'workflow_admin') THEN
    CREATE ROLE workflow_admin NOLOGIN;
  END IF;
END $$;

CREATE SCHEMA app;
CREATE SCHEMA analytics;
CREATE SCHEMA legacy;

-- The pair the cutter tests look for.
CREATE TABLE public.dot_tools (
  id          integer PRIMARY KEY,
  code        text NOT NULL UNIQUE,
  status      text NOT NULL,
  tier        text NOT NULL,
  paired_with text
);
INSERT INTO public.dot_tools (id, code, status, tier, paired_with)
SELECT 900 + g, format('DOT-TOOL-%s', 900 + g),
       (ARRAY['active','retired','draft'])[1 + g % 3],
       (ARRAY['A','B','C'])[1 + g % 3], NULL
FROM generate_series(1, 40) AS g;
INSERT INTO public.dot_tools (id, code, status, tier, paired_with) VALUES
  (991, 'DOT-IU-CUTTER-VERIFY', 'active', 'B', 'DOT-IU-CUTTER'),
  (992, 'DOT-IU-CUTTER',        'active', 'A', 'DOT-IU-CUTTER-VERIFY');

-- A table owned by a role that a fresh instance does not have.
CREATE TABLE app.workflow_runs (
  id          bigserial PRIMARY KEY,
  workflow    text NOT NULL,
  state       text NOT NULL,
  started_at  timestamptz NOT NULL,
  finished_at timestamptz
);
INSERT INTO app.workflow_runs (workflow, state, started_at, finished_at)
SELECT format('workflow-%s', g % 7),
       (ARRAY['done','failed','running'])[1 + g % 3],
       timestamptz '2024-01-01 00:00:00+00' + g * interval '37 minutes',
       CASE WHEN g % 3 = 2 THEN NULL
            ELSE timestamptz '2024-01-01 00:00:00+00' + g * interval '37 minutes' + interval '5 minutes' END
FROM generate_series(1, 57) AS g;
ALTER TABLE app.workflow_runs OWNER TO workflow_admin;
-- Policies name roles and are not skipped by --no-owner/--no-privileges.
CREATE POLICY workflow_admin_all ON app.workflow_runs TO workflow_admin USING (true);

DO $$
DECLARE
  directus_tables text[] := ARRAY[
    'directus_access','directus_activity','directus_collections','directus_comments',
    'directus_dashboards','directus_extensions','directus_fields','directus_files',
    'directus_flows','directus_folders','directus_migrations','directus_notifications',
    'directus_operations','directus_panels','directus_permissions','directus_policies',
    'directus_presets','directus_relations','directus_revisions','directus_roles',
    'directus_sessions','directus_settings','directus_shares','directus_translations',
    'directus_users','directus_versions','directus_webhooks','directus_deployments'];
  nouns text[] := ARRAY[
    'products','orders','customers','invoices','shipments','suppliers','warehouses',
    'campaigns','articles','pages','events','tickets','projects','tasks','contracts',
    'payments','refunds','vouchers','stores','regions','devices','sensors','readings',
    'courses','lessons','authors','reviews','categories','brands','tools'];
  suffixes text[] := ARRAY['', '_translations', '_files', '_tags', '_history', '_meta', '_links'];
  big_tables text[] := ARRAY[
    'public.directus_activity','public.directus_revisions','public.orders',
    'public.directus_files','analytics.page_views','legacy.orders_archive'];
  plan text[] := ARRAY[]::text[];   -- 'schema.table'
  i int; j int; n int; k int := 0;
  q text; tbl text; sch text; rel text;
BEGIN
  FOREACH tbl IN ARRAY directus_tables LOOP
    plan := plan || ('public.' || tbl);
  END LOOP;
  -- 100 app tables in public
  i := 0;
  <<outer_public>>
  FOREACH q IN ARRAY suffixes LOOP
    FOREACH tbl IN ARRAY nouns LOOP
      EXIT outer_public WHEN i >= 100;
      plan := plan || ('public.' || tbl || q);
      i := i + 1;
    END LOOP;
  END LOOP;
  -- 50 in app (dot_tools / workflow_runs are created above)
  FOR i IN 1..50 LOOP
    plan := plan || format('app.%s_%s', nouns[1 + (i - 1) % 30], (ARRAY['queue','state'])[1 + (i - 1) / 30]);
  END LOOP;
  -- 40 in analytics
  plan := plan || 'analytics.page_views'::text;
  FOR i IN 1..39 LOOP
    plan := plan || format('analytics.%s_daily_%s', nouns[1 + (i * 11) % 30], lpad(i::text, 2, '0'));
  END LOOP;
  -- 20 in legacy
  plan := plan || 'legacy.orders_archive'::text;
  FOR i IN 1..19 LOOP
    plan := plan || format('legacy.%s_v%s', nouns[1 + (i * 13) % 30], i);
  END LOOP;

  FOREACH rel IN ARRAY plan LOOP
    k := k + 1;
    sch := split_part(rel, '.', 1);
    tbl := split_part(rel, '.', 2);
    EXECUTE format($f$
      CREATE TABLE %I.%I (
        id         serial PRIMARY KEY,
        name       text NOT NULL,
        status     text NOT NULL DEFAULT 'published',
        sort       integer,
        amount     numeric(12,2),
        is_active  boolean NOT NULL DEFAULT true,
        payload    jsonb,
        created_at timestamptz NOT NULL,
        updated_at timestamptz
      )$f$, sch, tbl);
    IF rel = ANY (big_tables) THEN
      n := 200 + (k * 37) % 280;
    ELSE
      n := 1 + (k * 7919) % 29;
    END IF;
    EXECUTE format($f$
      INSERT INTO %I.%I (name, status, sort, amount, is_active, payload, created_at, updated_at)
      SELECT %L || '-' || g,
             (ARRAY['published','draft','archived'])[1 + g %% 3],
             g,
             round(((g * 7919) %% 100000) / 100.0, 2),
             g %% 5 <> 0,
             jsonb_build_object('k', g, 'h', md5(%L || g)),
             timestamptz '2024-01-01 00:00:00+00' + g * interval '1 hour',
             CASE WHEN g %% 4 = 0 THEN NULL
                  ELSE timestamptz '2024-01-01 00:00:00+00' + g * interval '90 minutes' END
      FROM generate_series(1, %s) AS g$f$, sch, tbl, tbl, rel, n);
    IF k % 9 = 0 THEN
      EXECUTE format('CREATE INDEX ON %I.%I (created_at)', sch, tbl);
    END IF;
  END LOOP;
END $$;

-- A few foreign keys so restore order matters a little.
ALTER TABLE public.directus_users ADD COLUMN role integer REFERENCES public.directus_roles (id);
UPDATE public.directus_users SET role = 1;
ALTER TABLE public.directus_permissions ADD COLUMN policy integer REFERENCES public.directus_policies (id);
UPDATE public.directus_permissions SET policy = 1;
ALTER TABLE public.directus_revisions ADD COLUMN activity integer REFERENCES public.directus_activity (id);
UPDATE public.directus_revisions SET activity = id WHERE id <= (SELECT max(id) FROM public.directus_activity);

GRANT SELECT ON public.dot_tools, public.directus_users TO workflow_admin;
GRANT USAGE ON SCHEMA app TO workflow_admin;
