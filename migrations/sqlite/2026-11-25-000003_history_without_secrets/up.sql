-- The history no longer carries anything of a secret, not even its mask: older rows kept the
-- mask of api_key in their states. Keep in step with ../../postgres/.
UPDATE audit_events
SET before_state = json_set(before_state, '$.api_key', '[secret]')
WHERE before_state IS NOT NULL AND json_type(before_state, '$.api_key') = 'text';
UPDATE audit_events
SET after_state = json_set(after_state, '$.api_key', '[secret]')
WHERE after_state IS NOT NULL AND json_type(after_state, '$.api_key') = 'text';
