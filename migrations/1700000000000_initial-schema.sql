-- Up Migration

-- Small code tables: the fact and rollup tables store enumerations as smallint codes (cheap to
-- load in binary COPY); these give the codes their names for people and for `npm run verify`.
CREATE TABLE products (code smallint PRIMARY KEY, name text NOT NULL UNIQUE);
INSERT INTO products VALUES (1, 'POS'), (2, 'AIRTIME'), (3, 'BILLS'), (4, 'CARD_PAYMENT'),
  (5, 'SAVINGS'), (6, 'MONIEBOOK'), (7, 'KYC');
CREATE TABLE statuses (code smallint PRIMARY KEY, name text NOT NULL UNIQUE);
INSERT INTO statuses VALUES (1, 'SUCCESS'), (2, 'FAILED'), (3, 'PENDING');
CREATE TABLE channels (code smallint PRIMARY KEY, name text NOT NULL UNIQUE);
INSERT INTO channels VALUES (1, 'POS'), (2, 'APP'), (3, 'USSD'), (4, 'WEB'), (5, 'OFFLINE');
CREATE TABLE tiers (code smallint PRIMARY KEY, name text NOT NULL UNIQUE);
INSERT INTO tiers VALUES (1, 'STARTER'), (2, 'VERIFIED'), (3, 'PREMIUM');
CREATE TABLE kyc_stages (code smallint PRIMARY KEY, name text NOT NULL UNIQUE);
INSERT INTO kyc_stages VALUES (1, 'DOCUMENT_SUBMITTED'), (2, 'VERIFICATION_COMPLETED'), (3, 'TIER_UPGRADE');

-- The import ledger: one row per run of one file.
CREATE TABLE import_runs (
  id serial PRIMARY KEY,
  file_name text NOT NULL,
  file_size bigint NOT NULL,
  file_mtime timestamptz,
  file_hash text NOT NULL,
  status text NOT NULL CHECK (status IN ('running', 'done', 'failed', 'rejected')),
  rows_read bigint NOT NULL DEFAULT 0,
  rows_inserted bigint NOT NULL DEFAULT 0,
  rows_duplicate bigint NOT NULL DEFAULT 0,
  rows_rejected bigint NOT NULL DEFAULT 0,
  rejects_by_reason jsonb NOT NULL DEFAULT '{}',
  warnings_by_kind jsonb NOT NULL DEFAULT '{}',
  -- Resume point: bytes of the file and next line number covered by committed batches.
  bytes_committed bigint NOT NULL DEFAULT 0,
  next_line bigint NOT NULL DEFAULT 2,
  message text,
  started_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  CHECK (rows_read = rows_inserted + rows_duplicate + rows_rejected)
);
CREATE INDEX import_runs_file ON import_runs (file_name, file_hash);

CREATE TABLE import_rejects (
  run_id int NOT NULL REFERENCES import_runs (id),
  line bigint NOT NULL,
  reason text NOT NULL,
  raw text NOT NULL,
  PRIMARY KEY (run_id, line)
);
CREATE INDEX import_rejects_reason ON import_rejects (run_id, reason, line);

-- Facts: every row that passed the rules, first occurrence of each event_id.
CREATE TABLE activities (
  event_id uuid PRIMARY KEY,
  merchant_id int NOT NULL,          -- the six digits of MRC-nnnnnn
  event_at timestamptz NOT NULL,
  product smallint NOT NULL,         -- products.code
  event_type text NOT NULL,
  amount_kobo bigint NOT NULL,       -- NGN x 100, exact
  status smallint NOT NULL,          -- statuses.code
  channel smallint,                  -- channels.code
  region text,
  merchant_tier smallint,            -- tiers.code
  run_id int NOT NULL                -- import_runs.id that brought the row
);

-- Rollups, kept in step with activities in the same transaction. Months are yyyymm integers (UTC).
CREATE TABLE merchant_month_volume (   -- a row iff the merchant had a SUCCESS event that month
  month int NOT NULL,
  merchant_id int NOT NULL,
  success_kobo numeric NOT NULL,
  PRIMARY KEY (month, merchant_id)
);
CREATE TABLE product_merchants (       -- merchants with any event of the product
  product smallint NOT NULL,
  merchant_id int NOT NULL,
  PRIMARY KEY (product, merchant_id)
);
CREATE TABLE product_month_merchants (
  product smallint NOT NULL,
  month int NOT NULL,
  merchant_id int NOT NULL,
  PRIMARY KEY (product, month, merchant_id)
);
CREATE TABLE kyc_merchants (           -- merchants with a SUCCESS KYC event of the stage
  stage smallint NOT NULL,
  merchant_id int NOT NULL,
  PRIMARY KEY (stage, merchant_id)
);
CREATE TABLE kyc_month_merchants (
  stage smallint NOT NULL,
  month int NOT NULL,
  merchant_id int NOT NULL,
  PRIMARY KEY (stage, month, merchant_id)
);
CREATE TABLE product_month_status (
  product smallint NOT NULL,
  month int NOT NULL,
  success bigint NOT NULL DEFAULT 0,
  failed bigint NOT NULL DEFAULT 0,
  pending bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (product, month)
);

-- Bumped by every committed import batch; answers are cached per version.
CREATE TABLE data_version (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  version bigint NOT NULL,
  committed_at timestamptz NOT NULL
);
INSERT INTO data_version VALUES (true, 0, now());

-- Down Migration
DROP TABLE data_version, product_month_status, kyc_month_merchants, kyc_merchants,
  product_month_merchants, product_merchants, merchant_month_volume, activities, import_rejects,
  import_runs, kyc_stages, tiers, channels, statuses, products;
