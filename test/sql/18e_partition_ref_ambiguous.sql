-- A foreign key may reference one partition rather than its partitioned
-- table (GitLab: ci_runner_projects (runner_id) REFERENCES
-- project_type_ci_runners (id), where ci_runners is list-partitioned by
-- runner_type and its key is (id, runner_type)), by columns unique in that
-- partition only.  The map joined such a key to the whole partitioned table
-- by its columns: when they repeat across partitions, a row pointing at
-- another person's runner 7 was listed by access and deleted by erase.  The
-- referenced partition is now mapped as part of its table (its table's
-- edges, erasure mode and classification) and the key joins it; erase's
-- checks and cascades and retention's dependents read such a key from the
-- partition's rows only; so do the rows a mapped row references through
-- such a key (section 7).  Each row is listed and counted once, under the
-- partition (the nearest one: a leaf of a partitioned partition referenced
-- by a column unique in that leaf only is mapped by itself too).  A key
-- into a partition of the subject's root table stays a WARNING (section 8).
CREATE EXTENSION privacy;
CREATE TABLE pa_users (id bigint PRIMARY KEY, name text);
CREATE TABLE pa_runners (id bigint NOT NULL, runner_type smallint NOT NULL,
	creator_id bigint REFERENCES pa_users ON DELETE SET NULL, token text, sys int,
	created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (id, runner_type))
	PARTITION BY LIST (runner_type);
CREATE TABLE pa_runners_group PARTITION OF pa_runners FOR VALUES IN (2);
-- 1. a leaf partition, referenced by a column unique in it only
CREATE TABLE pa_runners_project PARTITION OF pa_runners FOR VALUES IN (3);
ALTER TABLE pa_runners_project ADD UNIQUE (id);
-- 2. a partitioned partition (two leaves), referenced the same way
CREATE TABLE pa_runners_instance PARTITION OF pa_runners FOR VALUES IN (1) PARTITION BY RANGE (id);
CREATE TABLE pa_runners_instance_a PARTITION OF pa_runners_instance FOR VALUES FROM (0) TO (50);
CREATE TABLE pa_runners_instance_b PARTITION OF pa_runners_instance FOR VALUES FROM (50) TO (1000);
ALTER TABLE pa_runners_instance ADD UNIQUE (id);
-- and a leaf of it, referenced by a column unique in that leaf only
ALTER TABLE pa_runners_instance_b ADD UNIQUE (sys);
CREATE TABLE pa_runner_projects (id bigint PRIMARY KEY,
	runner_id bigint NOT NULL REFERENCES pa_runners_project (id) ON DELETE CASCADE, note text);
CREATE TABLE pa_runner_hosts (id bigint PRIMARY KEY,
	runner_id bigint NOT NULL REFERENCES pa_runners_instance (id) ON DELETE CASCADE);
CREATE TABLE pa_instance_tags (id bigint PRIMARY KEY,
	sys int NOT NULL REFERENCES pa_runners_instance_b (sys) ON DELETE CASCADE);
-- one level further down
CREATE TABLE pa_project_logs (id bigint PRIMARY KEY,
	rp_id bigint NOT NULL REFERENCES pa_runner_projects ON DELETE CASCADE);
-- exact already: the partition key is part of the key
CREATE TABLE pa_machines (id bigint PRIMARY KEY, runner_id bigint, runner_type smallint,
	FOREIGN KEY (runner_id, runner_type) REFERENCES pa_runners ON DELETE CASCADE);
INSERT INTO pa_users VALUES (1, 'ann'), (2, 'bob'), (3, 'cy');
-- 3. ids repeat across partitions, each of another person
INSERT INTO pa_runners (id, runner_type, creator_id, token, sys) VALUES
	(7, 2, 1, 'g7', 9), (7, 3, 2, 'p7', NULL), (8, 3, 1, 'p8', 9),
	(60, 2, 1, 'g60', NULL), (60, 1, 2, 'i60', 9), (5, 1, 1, 'i5', 9), (5, 3, 2, 'p5', NULL);
INSERT INTO pa_runner_projects VALUES (100, 7, 'bob'), (101, 8, 'ann'), (102, 5, 'bob');
INSERT INTO pa_runner_hosts VALUES (200, 60), (201, 5);
INSERT INTO pa_project_logs VALUES (300, 100), (301, 101);
INSERT INTO pa_machines VALUES (400, 7, 2);
INSERT INTO pa_instance_tags VALUES (500, 9);
-- no WARNING any more
SELECT privacy.define_subject('pa', 'pa_users');
SELECT privacy.refresh_subject('pa');
SELECT privacy.classify('pa_runners', 'token', 'user.authorization.credentials', 'redact');
SELECT privacy.classify('pa_runner_projects', 'note', 'user.content');
-- the partitions' columns are classified by their table's (no coverage gap)
SELECT * FROM privacy.unclassified WHERE table_name::text LIKE 'pa_runners%';
SELECT table_name, via, depth, path FROM privacy.subject_tables WHERE subject = 'pa'
 ORDER BY depth, table_name::text;
-- what each person has, by an independent query (partition key included)
CREATE VIEW pa_truth AS
SELECT u.id AS u,
	(SELECT count(*) FROM pa_runners r WHERE r.creator_id = u.id) AS runners,
	(SELECT count(*) FROM pa_runner_projects x JOIN pa_runners r
	  ON r.id = x.runner_id AND r.runner_type = 3 WHERE r.creator_id = u.id) AS runner_projects,
	(SELECT count(*) FROM pa_runner_hosts x JOIN pa_runners r
	  ON r.id = x.runner_id AND r.runner_type = 1 WHERE r.creator_id = u.id) AS runner_hosts,
	(SELECT count(*) FROM pa_project_logs l JOIN pa_runner_projects x ON x.id = l.rp_id JOIN pa_runners r
	  ON r.id = x.runner_id AND r.runner_type = 3 WHERE r.creator_id = u.id) AS project_logs,
	(SELECT count(*) FROM pa_machines m JOIN pa_runners r
	  ON (r.id, r.runner_type) = (m.runner_id, m.runner_type) WHERE r.creator_id = u.id) AS machines,
	(SELECT count(*) FROM pa_instance_tags x JOIN pa_runners r
	  ON r.sys = x.sys AND r.runner_type = 1 AND r.id >= 50 WHERE r.creator_id = u.id) AS instance_tags
  FROM pa_users u;
-- the same counts from a report (access, export or an erasure's receipt):
-- the runners listed under the partitioned table and its partitions
CREATE FUNCTION pa_counts(tables jsonb, field text) RETURNS TABLE (runners numeric,
	runner_projects numeric, runner_hosts numeric, project_logs numeric, machines numeric,
	instance_tags numeric)
LANGUAGE sql AS $$
	SELECT sum(n) FILTER (WHERE k IN ('public.pa_runners', 'public.pa_runners_project', 'public.pa_runners_instance',
			'public.pa_runners_instance_b')),
		coalesce(sum(n) FILTER (WHERE k = 'public.pa_runner_projects'), 0),
		coalesce(sum(n) FILTER (WHERE k = 'public.pa_runner_hosts'), 0),
		coalesce(sum(n) FILTER (WHERE k = 'public.pa_project_logs'), 0),
		coalesce(sum(n) FILTER (WHERE k = 'public.pa_machines'), 0),
		coalesce(sum(n) FILTER (WHERE k = 'public.pa_instance_tags'), 0)
	  FROM (SELECT k, CASE WHEN field IS NULL THEN jsonb_array_length(v) ELSE (v ->> field)::int END
	          FROM jsonb_each(tables) x(k, v)) y(k, n)
$$;
SELECT * FROM pa_truth ORDER BY u;
-- access and export: each row once, exactly each person's (runner project
-- 100 of bob's project runner 7 is not ann's, who has the group runner 7)
SELECT u, k, jsonb_path_query_array(v, '$[*].id') AS ids
  FROM generate_series(1, 3) u, jsonb_each(privacy.access('pa', u::text) -> 'data') AS x(k, v)
 ORDER BY u, k;
-- (export: the classified tables only)
SELECT t.u, ROW(a.*) = ROW(t.runners, t.runner_projects, t.runner_hosts, t.project_logs, t.machines, t.instance_tags) AS access_exact,
	(SELECT ROW(e.runners, e.runner_projects) = ROW(t.runners, t.runner_projects)
	   FROM pa_counts(privacy.export('pa', t.u::text) -> 'tables', NULL) e) AS export_exact
  FROM pa_truth t, pa_counts(privacy.access('pa', t.u::text) -> 'data', NULL) a ORDER BY t.u;
-- a breach of the runners or of the runner projects: two persons, each once
SELECT privacy.breach_report(ARRAY['pa_runners'::regclass]) -> 'subjects' AS runners,
	privacy.breach_report(ARRAY['pa_runner_projects'::regclass]) -> 'subjects' AS runner_projects,
	privacy.breach_report(ARRAY['pa_runners_project'::regclass, 'pa_runners']) -> 'subjects' AS both;

-- 4. erase ann (delete mode): the dry runs count exactly each person's rows,
-- once each, the receipt as the dry run; bob's rows all stay
SELECT t.u, ROW(d.*) = ROW(t.runners, t.runner_projects, t.runner_hosts, t.project_logs, t.machines, t.instance_tags) AS dry_run_exact
  FROM pa_truth t, pa_counts(privacy.erase('pa', t.u::text, 'test', dry_run => true) -> 'tables', 'deleted') d
 ORDER BY t.u;
SELECT privacy.erase('pa', '1', 'test', dry_run => true) -> 'tables' AS dry \gset
SELECT privacy.erase('pa', '1', 'test') -> 'tables' = :'dry'::jsonb AS receipt_as_dry_run;
SELECT * FROM pa_truth ORDER BY u;
SELECT array_agg((id, runner_type, creator_id) ORDER BY id, runner_type) AS runners_left FROM pa_runners;
SELECT array_agg(id ORDER BY id) AS runner_projects_left FROM pa_runner_projects;
SELECT array_agg(id ORDER BY id) AS hosts_left FROM pa_runner_hosts;
SELECT array_agg(id ORDER BY id) AS logs_left FROM pa_project_logs;
SELECT array_agg(id ORDER BY id) AS tags_left FROM pa_instance_tags;

-- 5. anonymize mode: the partitions' rows are rewritten with the table's
-- classification (not deleted, not counted twice); cy's group runner 7 and
-- instance runner 5 share ids with bob's project runner 7 and project runner 5
INSERT INTO pa_runners (id, runner_type, creator_id, token) VALUES (7, 2, 3, 'cy7'), (5, 1, 3, 'cy5');
INSERT INTO pa_runner_hosts VALUES (202, 5);
SELECT privacy.set_erasure_mode('pa_runners', 'anonymize');
SELECT * FROM pa_truth ORDER BY u;
SELECT privacy.erase('pa', '3', 'test', dry_run => true) -> 'tables' AS dry \gset
SELECT a.runners AS anonymized, d.runner_projects, d.runner_hosts, d.project_logs, d.instance_tags
  FROM pa_counts(:'dry', 'anonymized') a, pa_counts(:'dry', 'deleted') d;
SELECT privacy.erase('pa', '3', 'test') -> 'tables' = :'dry'::jsonb AS receipt_as_dry_run;
SELECT id, runner_type, creator_id, token FROM pa_runners ORDER BY id, runner_type;
SELECT array_agg(id ORDER BY id) AS runner_projects_left FROM pa_runner_projects;
SELECT array_agg(id ORDER BY id) AS hosts_left FROM pa_runner_hosts;
SELECT privacy.erase('pa', '2', 'test', dry_run => true) -> 'tables' AS dry \gset
SELECT a.runners AS anonymized, d.runner_projects, d.runner_hosts, d.project_logs, d.instance_tags
  FROM pa_counts(:'dry', 'anonymized') a, pa_counts(:'dry', 'deleted') d;
SELECT privacy.erase('pa', '2', 'test') -> 'tables' = :'dry'::jsonb AS receipt_as_dry_run;
SELECT id, runner_type, creator_id, token FROM pa_runners ORDER BY id, runner_type;
SELECT array_agg(id ORDER BY id) AS runner_projects_left FROM pa_runner_projects;
SELECT array_agg(id ORDER BY id) AS hosts_left FROM pa_runner_hosts;
SELECT privacy.set_erasure_mode('pa_runners', 'delete');

-- 6. retention: an expiring group runner 9 takes no runner project of the
-- project runner 9 (nor a host of the instance runner 9) with it
INSERT INTO pa_runners (id, runner_type, creator_id, token, created_at) VALUES
	(9, 2, NULL, 'old', now() - interval '100 days'), (9, 3, NULL, 'new', now()),
	(9, 1, NULL, 'new', now()), (10, 3, NULL, 'old', now() - interval '100 days');
INSERT INTO pa_runner_projects VALUES (103, 9, 'fresh'), (104, 10, 'of an expiring runner');
INSERT INTO pa_runner_hosts VALUES (203, 9);
SET client_min_messages = warning;
BEGIN;
SELECT privacy.add_retention('pa_runners', 'created_at', '30 days') AS p \gset
SELECT privacy.run_retention(:p) AS deleted;
COMMIT;
RESET client_min_messages;
SELECT id, runner_type FROM pa_runners ORDER BY id, runner_type;
SELECT array_agg(id ORDER BY id) AS runner_projects_left FROM pa_runner_projects;
SELECT array_agg(id ORDER BY id) AS hosts_left FROM pa_runner_hosts;
SELECT privacy.drop_retention(:p);

-- 7. the other way: a mapped row references one partition of a classified
-- table by a column unique there only; the referenced rows of the subject
-- are that partition's (the free plan 3 is nobody's, the paid plan 3 di's)
CREATE TABLE pa_plans (id int NOT NULL, kind int NOT NULL, card text, PRIMARY KEY (id, kind))
	PARTITION BY LIST (kind);
CREATE TABLE pa_plans_free PARTITION OF pa_plans FOR VALUES IN (1);
CREATE TABLE pa_plans_paid PARTITION OF pa_plans FOR VALUES IN (2);
ALTER TABLE pa_plans_paid ADD UNIQUE (id);
CREATE TABLE pa_subs (id int PRIMARY KEY, user_id bigint REFERENCES pa_users ON DELETE CASCADE,
	plan_id int REFERENCES pa_plans_paid (id) ON DELETE SET NULL);
INSERT INTO pa_users VALUES (4, 'di'), (5, 'ed');
INSERT INTO pa_plans VALUES (3, 1, 'free 3'), (3, 2, 'paid 3'), (4, 2, 'paid 4'), (4, 1, 'free 4');
INSERT INTO pa_subs VALUES (10, 4, 3), (11, 5, 4);
SELECT privacy.classify('pa_plans', 'card', 'user.financial.bank_account');
SELECT table_name, via, path FROM privacy.subject_tables WHERE subject = 'pa' AND table_name = 'pa_plans'::regclass;
SELECT u, privacy.access('pa', u::text) -> 'data' -> 'public.pa_plans' AS plans,
	privacy.export('pa', u::text) -> 'tables' -> 'public.pa_plans' AS exported
  FROM generate_series(4, 5) u;
SELECT privacy.erase('pa', '4', 'test', dry_run => true) -> 'tables' -> 'public.pa_plans' AS dry;
SELECT privacy.erase('pa', '4', 'test') -> 'tables' -> 'public.pa_plans' AS erased;
SELECT id, kind, card FROM pa_plans ORDER BY id, kind;

-- 8. not exact yet, still a WARNING: a key into a partition of the subject's
-- root table by columns not unique on it
CREATE TABLE pr_acc (id int, code int NOT NULL, PRIMARY KEY (id)) PARTITION BY RANGE (id);
CREATE TABLE pr_acc_1 PARTITION OF pr_acc FOR VALUES FROM (0) TO (100);
CREATE TABLE pr_acc_2 PARTITION OF pr_acc FOR VALUES FROM (100) TO (200);
ALTER TABLE pr_acc_1 ADD UNIQUE (code);
CREATE TABLE pr_cards (id int PRIMARY KEY, code int REFERENCES pr_acc_1 (code));
SELECT privacy.define_subject('pr', 'pr_acc');
SELECT privacy.drop_subject('pr');
DROP TABLE pr_cards, pr_acc;

SELECT privacy.drop_subject('pa');
DROP VIEW pa_truth;
DROP FUNCTION pa_counts;
DROP TABLE pa_subs, pa_plans, pa_instance_tags, pa_machines, pa_project_logs, pa_runner_hosts, pa_runner_projects, pa_runners, pa_users;
DROP EXTENSION privacy;
