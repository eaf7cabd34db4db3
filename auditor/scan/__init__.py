"""Batch scan: every records folder below a directory or added by git refs, audited once per distinct content.

Modules: `gitrepo` (git plumbing), `discover` (folders on disk), `units` (what is audited and its key), `cache`,
`worker` (one audit in a pool process), `engine` (the scan), `output`, `labels` (comparison with known decisions),
`gate` (suppression notes for the CI gate), `cli` (`pgolf-audit scan`).
"""
