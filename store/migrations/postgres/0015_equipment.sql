-- Field service: the company's equipment (machines at customers' sites),
-- photos of equipment and vehicles, vehicles' home bases, and the indexes
-- the manufacturer's statistics (`store::stats`) read tickets and reports by.

-- A machine the company services. `serial` is unique within the company
-- (NULLs aside, it is required); `customer_account` is the customer who owns
-- it (customers read only their own). `installed_on` is a calendar date,
-- `YYYY-MM-DD`; latitude and longitude are both set or both NULL.
CREATE TABLE equipment (
    id               UUID    PRIMARY KEY,
    company          TEXT    NOT NULL REFERENCES companies (id),
    customer_account UUID,
    model            TEXT    NOT NULL,
    serial           TEXT    NOT NULL,
    manufacturer     TEXT,
    site_address     TEXT,
    latitude         DOUBLE PRECISION CHECK (latitude BETWEEN -90 AND 90),
    longitude        DOUBLE PRECISION CHECK (longitude BETWEEN -180 AND 180),
    installed_on     TEXT,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL,
    CHECK ((latitude IS NULL) = (longitude IS NULL))
);
CREATE UNIQUE INDEX equipment_serial ON equipment (company, serial);
CREATE INDEX equipment_model ON equipment (company, model, id);
CREATE INDEX equipment_customer ON equipment (customer_account, id);

-- Photos of equipment and vehicles (`subject`); the bytes live in the
-- attachment store under `{company}/{subject}-{subject id}/{photo id}`.
CREATE TABLE photos (
    id           UUID    PRIMARY KEY,
    company      TEXT    NOT NULL,
    subject      TEXT    NOT NULL CHECK (subject IN ('equipment', 'vehicle')),
    subject_id   UUID    NOT NULL,
    filename     TEXT    NOT NULL,
    content_type TEXT    NOT NULL,
    size_bytes   BIGINT  NOT NULL,
    sha256       TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL
);
CREATE INDEX photos_subject ON photos (subject_id, id);

-- Where a vehicle starts its day.
ALTER TABLE vehicles ADD COLUMN home_base_address TEXT;
ALTER TABLE vehicles ADD COLUMN home_base_latitude DOUBLE PRECISION;
ALTER TABLE vehicles ADD COLUMN home_base_longitude DOUBLE PRECISION;

-- Statistics read one model's tickets of a company in time order, and one
-- unit's tickets by serial.
CREATE INDEX tickets_equipment_model ON tickets (company, equipment_model, created_at);
CREATE INDEX tickets_equipment_serial ON tickets (company, equipment_serial, created_at);
CREATE INDEX ticket_reports_equipment_model ON ticket_reports (company, equipment_model);
