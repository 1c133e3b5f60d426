"""Mini CRM: customers, orders, segments and campaigns."""
