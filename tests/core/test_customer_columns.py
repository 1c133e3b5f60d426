"""One customer column, every place that lists it. The input fields (`INPUT_FIELDS`) are the
truth; the stored document, the analytic copy's reader and table, the export, the import's
column names, the browser and the CSV generator must each name the same columns, so a column
added in one place and forgotten in another fails here rather than in a user's export."""

import duckdb

from crm.analytics import audience_columns, browse
from crm.analytics.mongo_read import CUSTOMER_SCHEMA
from crm.ingest import csv_import
from crm.ingest.fake_csv import CUSTOMER_COLUMNS
from crm.ingest.records import CONSENT_COLUMNS, INPUT_FIELDS, CustomerRecord
from crm.segment_engine.schema import CUSTOMERS_DDL

INPUT = INPUT_FIELDS["customers"]
PLAIN = [name for name in INPUT if name not in CONSENT_COLUMNS]  # consent is stored as one object
STAMPS = ["created_at", "updated_at"]


def test_the_stored_document_and_the_analytic_reader_hold_every_input_column():
    # Custom attributes are one object, read by the workspace's registered kinds (schema_for).
    assert list(CustomerRecord.model_fields) == [*PLAIN, "consent", "attributes"]
    assert CUSTOMER_SCHEMA.to_arrow().names == [*PLAIN, "consent", *STAMPS]


def test_the_analytic_table_has_every_input_column_with_consent_per_channel():
    con = duckdb.connect()
    con.execute(CUSTOMERS_DDL)
    assert [row[0] for row in con.execute("DESCRIBE customers").fetchall()] == [*INPUT, *STAMPS, "attributes"]


def test_the_export_and_the_import_name_every_input_column():
    assert list(audience_columns.COLUMNS)[: len(INPUT)] == INPUT  # then the computed features
    assert list(csv_import.SYNONYMS["customers"]) == INPUT


def test_the_browser_and_the_generated_files_show_every_plain_column():
    assert browse.COLUMNS["customers"] == PLAIN
    assert CUSTOMER_COLUMNS == PLAIN
