"""A team's seats and subscriptions: the plans it pays per seat, who holds which from when,
which calls a plan covers, and the fees prorated to a window (pure; Firestore in store.py)."""
