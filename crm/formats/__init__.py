"""How values are written for people and for spreadsheets: Indian digit grouping, safe CSV cells."""
