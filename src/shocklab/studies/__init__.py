"""The stages of an event's analysis, one module per study; notebooks call these, one call per
cell.

- :mod:`shocklab.studies.run`: run setup (event, day 0 per calendar, output folder, dask
  client) and output writing (figures, tables, results);
- :mod:`shocklab.studies.event`: asset selection through the coverage authority, prices, the
  daily and hourly event studies and their tables and headline (notebooks 00 and 10);
- :mod:`shocklab.studies.regimes`: tech-crypto coupling regimes (notebook 20);
- :mod:`shocklab.studies.liquidations`: liquidation elasticity and cascades (notebook 30);
- :mod:`shocklab.studies.preflight`: what each study needs at day 0, asked before any kernel.

Nothing here executes notebooks; that is :mod:`shocklab.runner`.
"""
