"""AOI board inspection: placement list → per-component/pad windows → checks → golden board → per-RefDes results.

Modules: `placement` (CSV import), `library` (package YAML), `align` (fiducials, ORB/ECC registration),
`windows`, `checks` (presence/offset/rotation), `classifier` (joint classifier at run time), `golden`
(reference comparison), `inspector` (the whole board), `adapter` (Detector port, `kind: aoi`), `cli`
(`station aoi`), `synthetic` (rendered demo boards). See docs/aoi.md.

Nothing is imported here, so `import inspection.aoi.placement` does not pull in torch.
"""

__all__: list[str] = []
