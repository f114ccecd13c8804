"""Analytics: potential, forecasts, quotas, and causal impact (:mod:`territorium.analytics.causal`)."""
