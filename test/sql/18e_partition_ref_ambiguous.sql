-- A foreign key may reference one partition rather than its partitioned
-- table (GitLab: ci_runner_projects (runner_id) REFERENCES
-- project_type_ci_runners (id), where ci_runners is partitioned by
-- runner_type and its key is (id, runner_type)).  The map joins such a key
-- to the whole partitioned table by the key's columns, so when those repeat
-- across partitions a row that points at another subject's runner is taken
-- as this subject's too.  Not fixed yet (README, "Not exact yet"): the map
-- now warns, at define_subject and refresh_subject, naming the key.  A key
-- whose columns are unique on the partitioned table (the partition key
-- included) is exact and gives no warning.
CREATE EXTENSION privacy;
CREATE TABLE pa_users (id bigint PRIMARY KEY);
CREATE TABLE pa_runners (id bigint NOT NULL, runner_type smallint NOT NULL,
	creator_id bigint REFERENCES pa_users ON DELETE SET NULL, PRIMARY KEY (id, runner_type))
	PARTITION BY LIST (runner_type);
CREATE TABLE pa_runners_group PARTITION OF pa_runners FOR VALUES IN (2);
CREATE TABLE pa_runners_project PARTITION OF pa_runners FOR VALUES IN (3);
ALTER TABLE pa_runners_project ADD UNIQUE (id);
CREATE TABLE pa_runner_projects (id bigint PRIMARY KEY,
	runner_id bigint NOT NULL REFERENCES pa_runners_project (id) ON DELETE CASCADE);
-- exact: the partition key is part of the key
CREATE TABLE pa_machines (id bigint PRIMARY KEY, runner_id bigint, runner_type smallint,
	FOREIGN KEY (runner_id, runner_type) REFERENCES pa_runners);
INSERT INTO pa_users VALUES (1), (2);
INSERT INTO pa_runners VALUES (7, 2, 1), (7, 3, 2);
INSERT INTO pa_runner_projects VALUES (100, 7);
INSERT INTO pa_machines VALUES (200, 7, 3);
SELECT privacy.define_subject('pa', 'pa_users');
SELECT privacy.refresh_subject('pa');
SELECT table_name, via, depth FROM privacy.subject_tables WHERE subject = 'pa' ORDER BY depth, table_name::text;
-- pa_machines is exact: machine 200 is user 2's only.  Known wrong, not
-- fixed: runner project 100 (of user 2's runner) is listed for user 1 too
SELECT k, jsonb_path_query_array(v, '$[*].id') AS ids
  FROM jsonb_each(privacy.access('pa', '1') -> 'data') AS x(k, v) ORDER BY k;
SELECT k, jsonb_path_query_array(v, '$[*].id') AS ids
  FROM jsonb_each(privacy.access('pa', '2') -> 'data') AS x(k, v) ORDER BY k;
SELECT privacy.drop_subject('pa');
DROP TABLE pa_machines, pa_runner_projects, pa_runners, pa_users;
DROP EXTENSION privacy;
