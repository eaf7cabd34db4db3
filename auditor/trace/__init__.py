"""Runtime tracer: run a submission at toy scale under instrumentation and check, per validation token, the rulings.

Parent side (no torch needed to import): `runner` (toy data, env knobs, subprocess with timeout), `ledger` (the
event record the child writes), `checks` (ledger -> runtime findings), `probe` (causality / full-distribution
probe from perturbed reruns), `merge` (runtime findings joined with the static ones).
Child side (torch): `bootstrap` (entry point), `shims` (CUDA/FA3/compile/distributed stand-ins), `instrument`
(provenance of the token streams and the events).
"""
