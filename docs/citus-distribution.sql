-- How this schema is distributed on Citus (see docs/scaling.md). Run once on the coordinator,
-- after `npm run migrate` has created the tables there and before any data is imported.
-- test/integration/citus-schema.test.ts lints the migrated schema against these lines.

-- Facts by event_id, with the id registry beside them: each registry generation's unique key is
-- then checked inside one shard. Month partitions and registry generations attached later are
-- distributed with their parent.
SELECT create_distributed_table('activities', 'event_id');
SELECT create_distributed_table('event_ids', 'event_id', colocate_with => 'activities');
SELECT create_distributed_table('event_ids_staged', 'event_id', colocate_with => 'activities');
SELECT create_distributed_table('activities_pending', 'event_id', colocate_with => 'activities');

-- Rollups by merchant: each (merchant, month) lives in one shard, so counts stay exact.
SELECT create_distributed_table('merchant_month_volume', 'merchant_id');
SELECT create_distributed_table('product_merchants', 'merchant_id', colocate_with => 'merchant_month_volume');
SELECT create_distributed_table('product_month_merchants', 'merchant_id', colocate_with => 'merchant_month_volume');
SELECT create_distributed_table('kyc_merchants', 'merchant_id', colocate_with => 'merchant_month_volume');
SELECT create_distributed_table('kyc_month_merchants', 'merchant_id', colocate_with => 'merchant_month_volume');

-- Rejects by run: the ledger row they point to is a reference table.
SELECT create_distributed_table('import_rejects', 'run_id');

-- Small tables every node reads, or that hold no merchant or event: copied to every node.
SELECT create_reference_table('import_runs');
SELECT create_reference_table('archived_months');
SELECT create_reference_table('event_id_filters');
SELECT create_reference_table('product_month_status');
SELECT create_reference_table('data_version');
SELECT create_reference_table('products');
SELECT create_reference_table('statuses');
SELECT create_reference_table('channels');
SELECT create_reference_table('tiers');
SELECT create_reference_table('kyc_stages');

-- pgmigrations stays a local table of the coordinator, where the migrations run.
