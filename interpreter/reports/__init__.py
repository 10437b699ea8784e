"""Every human-facing rendering: the documentation site, diff and impact reports, evidence
packets, SARIF. All of it escapes through ``markup`` (one escaper, one URL check) and
writes citations through ``citations`` (one formatter, one wording). The pipeline never
imports this package."""
