"""Sweeps: many checkpoints, one table (`vmieval sweep`, `vmieval merge`).

Orchestration only (docs: DESIGN.md, "Round 4"): `plan` keys each checkpoint's job by content, an executor
(`executors/`: a local process pool, Ray, submitit) runs `job.evaluate` (the report's own `build_report`) into
the content-addressed `cache`, and `merge` reads the cached `report.h5` files into `sweep.h5` and `sweep.csv`
(`table`), from which `figures` draws a metric against a hyper-parameter and the rate plane.
"""
