-- Discovery: what in this database looks like personal data?
-- Proposals only; nothing is classified yet.
SELECT * FROM privacy.discover_all() ORDER BY table_name::text, column_name;

-- The tables of the mapped subjects, and what apply_discovery would keep
-- at its default threshold (0.8): value-backed proposals.
SELECT * FROM privacy.discover() WHERE confidence >= 0.8 ORDER BY table_name::text, column_name;
SELECT * FROM privacy.apply_discovery(0.8) ORDER BY table_name::text, column_name;

-- The GDPR Art. 30 record, ready to paste into the DPO's document.
SELECT privacy.processing_record_markdown();

-- A breach of the first subject type's root table: who and what is affected,
-- and when the supervisory authority must be told.
SELECT jsonb_pretty(privacy.breach_report(array_agg(root)))
  FROM (SELECT root FROM privacy.subject_types ORDER BY name LIMIT 1) s
HAVING count(*) > 0;
