"""`pgolf-audit reproduce`: re-run a submission (or a reference preset) per seed and compare with its claims."""
