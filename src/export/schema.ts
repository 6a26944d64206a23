// The tables of `cis export` (G-5), created if missing. Every table has the primary key a row
// is upserted by, so writing a batch again (after a crash before its commit) adds nothing
// twice. Times are timestamptz; the whole API view of a joblist or job is kept as jsonb for
// what the columns do not carry. README "Export to SQL" describes the same.
export const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  origin text NOT NULL,
  seq bigint NOT NULL,
  ts timestamptz NOT NULL,
  lc integer NOT NULL,
  type text NOT NULL,
  body jsonb NOT NULL,
  sig text NOT NULL,
  PRIMARY KEY (origin, seq)
);
-- Request key -> joblist ID, for events that name a joblist by its request (a submit; a submit
-- made on the master carries its accept, body->'accept', and is found by its key, origin and seq).
CREATE INDEX IF NOT EXISTS events_accept_request ON events ((body->>'request')) WHERE type = 'accept';

CREATE TABLE IF NOT EXISTS joblists (
  id text PRIMARY KEY,
  name text NOT NULL,
  owner text NOT NULL,
  state text NOT NULL,
  priority integer NOT NULL,
  tags text[] NOT NULL,
  submitted_at timestamptz,
  accepted_at timestamptz,
  ended_at timestamptz,
  view jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS joblists_owner ON joblists (owner);

CREATE TABLE IF NOT EXISTS jobs (
  id text PRIMARY KEY,
  joblist_id text NOT NULL,
  logical_id text,
  name text NOT NULL,
  stage text NOT NULL,
  state text NOT NULL,
  node text,
  view jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_joblist ON jobs (joblist_id);

CREATE TABLE IF NOT EXISTS attempts (
  job_id text NOT NULL,
  n integer NOT NULL,
  joblist_id text NOT NULL,
  node text,
  state text NOT NULL,
  started_at timestamptz,
  ended_at timestamptz,
  exit_code integer,
  signal text,
  reason text,
  PRIMARY KEY (job_id, n)
);
CREATE INDEX IF NOT EXISTS attempts_joblist ON attempts (joblist_id);

CREATE TABLE IF NOT EXISTS accounting (
  key text PRIMARY KEY,
  joblist_id text NOT NULL,
  joblist_name text NOT NULL,
  job_id text NOT NULL,
  job_name text NOT NULL,
  owner text NOT NULL,
  tags text[] NOT NULL,
  node text NOT NULL,
  attempt integer NOT NULL,
  state text NOT NULL,
  exit_code integer,
  signal text,
  submitted_at timestamptz,
  started_at timestamptz,
  ended_at timestamptz,
  wall_s double precision NOT NULL,
  cpu_user_s double precision,
  cpu_sys_s double precision,
  max_rss_kb bigint,
  duplicate boolean NOT NULL,
  resources jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS accounting_joblist ON accounting (joblist_id);
CREATE INDEX IF NOT EXISTS accounting_owner_ended ON accounting (owner, ended_at);
CREATE INDEX IF NOT EXISTS accounting_ended ON accounting (ended_at);

-- How far the export got: the highest seq of each origin whose events are all in \`events\`.
CREATE TABLE IF NOT EXISTS cis_export_position (
  origin text PRIMARY KEY,
  seq bigint NOT NULL
);
`

/** The tables the export writes, in the order a summary lists them. */
export const TABLES = ['events', 'joblists', 'jobs', 'attempts', 'accounting', 'cis_export_position'] as const
