-- The dispatch assistant: what an engineer or technician can repair
-- (equipment models and ticket categories, a JSON array of strings) and
-- where their day starts. Latitude and longitude are both set or both NULL.
ALTER TABLE accounts ADD COLUMN skills TEXT;
ALTER TABLE accounts ADD COLUMN home_base_address TEXT;
ALTER TABLE accounts ADD COLUMN home_base_latitude DOUBLE PRECISION CHECK (home_base_latitude BETWEEN -90 AND 90);
ALTER TABLE accounts ADD COLUMN home_base_longitude DOUBLE PRECISION CHECK (home_base_longitude BETWEEN -180 AND 180);

-- The travel of a ticket's assignment, estimated when it was assigned: from
-- the vehicle's home base (else the assignee's) to the equipment's site. A
-- report written without travel figures takes them from here.
CREATE TABLE ticket_travel (
    ticket_id    UUID    PRIMARY KEY,
    company      TEXT    NOT NULL,
    distance_m   BIGINT  NOT NULL,
    duration_s   BIGINT  NOT NULL,
    source       TEXT    NOT NULL,
    estimated_at BIGINT  NOT NULL
);

-- A report's travel distance, and where its travel figures came from when
-- they were estimated rather than written (`offline`, `osrm`, `google`).
ALTER TABLE ticket_reports ADD COLUMN travel_distance_m INTEGER;
ALTER TABLE ticket_reports ADD COLUMN travel_source TEXT;
-- Read as a 32-bit integer like `time_spent_minutes` (at most a month).
ALTER TABLE ticket_reports ALTER COLUMN travel_minutes TYPE INTEGER;
