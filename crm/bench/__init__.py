"""Benchmarks and evaluations (`python -m crm bench NAME`), apart from the product: imported only
when one runs, never by a plain command, a server or a page."""
