"""One router per domain: auth, users, plans, accounts."""
