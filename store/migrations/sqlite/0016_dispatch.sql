-- The dispatch assistant: what an engineer or technician can repair
-- (equipment models and ticket categories, a JSON array of strings) and
-- where their day starts. Latitude and longitude are both set or both NULL.
ALTER TABLE accounts ADD COLUMN skills TEXT;
ALTER TABLE accounts ADD COLUMN home_base_address TEXT;
ALTER TABLE accounts ADD COLUMN home_base_latitude REAL CHECK (home_base_latitude BETWEEN -90 AND 90);
ALTER TABLE accounts ADD COLUMN home_base_longitude REAL CHECK (home_base_longitude BETWEEN -180 AND 180);
