-- Retention: messages older than a year are deleted and the IP address and
-- GPS position of devices not seen for 90 days are anonymized, by the
-- background worker, on its own (naptime is 1 s in the demo cluster).

-- Attachments go with their message (otherwise the policy would fail with
-- 23503, and the status view would say so).
DO $$
DECLARE c text;
BEGIN
	SELECT conname INTO c FROM pg_constraint
	 WHERE conrelid = 'app.attachments'::regclass AND confrelid = 'app.messages'::regclass;
	IF c IS NOT NULL THEN
		EXECUTE format('ALTER TABLE app.attachments DROP CONSTRAINT %I', c);
		ALTER TABLE app.attachments ADD FOREIGN KEY (message_id) REFERENCES app.messages ON DELETE CASCADE;
	END IF;
END $$;
CREATE INDEX IF NOT EXISTS messages_sent_at ON app.messages (sent_at);
CREATE INDEX IF NOT EXISTS devices_last_seen ON app.devices (last_seen);

SELECT count(*) FILTER (WHERE sent_at < now() - interval '1 year') AS expired_messages,
       count(*) AS messages
  FROM app.messages;
SELECT count(*) FILTER (WHERE last_seen < now() - interval '90 days' AND ip_address IS NOT NULL) AS old_devices_with_ip,
       count(*) AS devices
  FROM app.devices;

SELECT privacy.add_retention('app.messages', 'sent_at', '1 year') AS messages_policy;
SELECT privacy.add_retention('app.devices', 'last_seen', '90 days', 'anonymize',
                             '{ip_address,lat,lon}') AS devices_policy;
SELECT * FROM privacy.retention_policies;

-- Nobody calls run_retention: wait for the worker.
DO $$
BEGIN
	FOR i IN 1..60 LOOP
		EXIT WHEN NOT EXISTS (SELECT FROM app.messages WHERE sent_at < now() - interval '1 year')
		      AND NOT EXISTS (SELECT FROM app.devices
		                       WHERE last_seen < now() - interval '90 days' AND ip_address IS NOT NULL);
		PERFORM pg_sleep(0.5);
	END LOOP;
END $$;

SELECT count(*) FILTER (WHERE sent_at < now() - interval '1 year') AS expired_messages,
       count(*) AS messages
  FROM app.messages;
SELECT id, device_uid, ip_address, lat, lon, last_seen::date
  FROM app.devices ORDER BY last_seen LIMIT 5;

-- What the worker did, and what it is doing now.
SELECT policy, table_name, action, last_finished, last_rows, last_held, last_error, backlog_estimate
  FROM privacy.retention_status ORDER BY policy;
SELECT policy, rows, batches, round(longest_batch_ms::numeric, 1) AS longest_batch_ms, error
  FROM privacy.retention_runs WHERE rows > 0 ORDER BY id;
SELECT backend_type, datname, state, query
  FROM pg_stat_activity WHERE backend_type LIKE 'privacy retention%' ORDER BY 1;
