-- The history no longer carries anything of a secret, not even its mask: older rows kept the
-- mask of api_key in their states. Keep in step with ../../sqlite/.
UPDATE audit_events
SET before_state = jsonb_set(before_state::jsonb, '{api_key}', '"[secret]"')::text
WHERE before_state IS NOT NULL AND jsonb_typeof(before_state::jsonb -> 'api_key') = 'string';
UPDATE audit_events
SET after_state = jsonb_set(after_state::jsonb, '{api_key}', '"[secret]"')::text
WHERE after_state IS NOT NULL AND jsonb_typeof(after_state::jsonb -> 'api_key') = 'string';
