"""`teamcost demo`: a realistic, seeded team recorded into per-machine ledgers."""
