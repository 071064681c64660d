"""The analytical engine: roofline math (Op x Device -> Estimate), efficiency and energy seams, the
transformer op graph, scenarios, predict / sweep / select, the model catalog. Imports only the base and hwdb."""
