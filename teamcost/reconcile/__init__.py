"""Reconcile with the bill: what a provider charged beside what teamcost recorded.

``anthropic`` and ``openai`` read the providers' organisation usage and cost reports,
``compare`` is the pure comparison and verdict, ``service.reconcile`` is the one call the
CLI makes, ``render`` turns its document into CSV. Nothing is imported here, so
``import teamcost.reconcile`` costs nothing until a reconcile runs.
"""
