"""Pooled team budgets: the budget document, team spend, check, the library guard, alerts."""
