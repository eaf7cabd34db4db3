"""Child entry point: `python -m auditor.trace.bootstrap SCRIPT LEDGER` runs SCRIPT as `__main__` (like
`python SCRIPT`) after installing the shims and, unless PGOLF_TRACE_OFF=1, the instrumentation; the ledger is
written however the script ends. Configuration comes from PGOLF_TRACE_* environment variables set by the runner.
"""

from __future__ import annotations

import os
import runpy
import sys
import traceback
from pathlib import Path


def _pairs(text: str) -> dict[int, int]:
    return {int(k): int(v) for k, v in (item.split(":") for item in text.split(",") if item)}


def _seed() -> None:
    """Same random state in every run (the probe compares runs); scripts that seed themselves override it."""
    import random

    import numpy as np
    import torch

    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


def main() -> int:
    script, ledger_path = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
    from auditor.trace import shims

    shims.install(cuda_to_cpu=os.environ.get("PGOLF_TRACE_CUDA_TO_CPU") == "1")
    _seed()
    rec = None
    if os.environ.get("PGOLF_TRACE_OFF") != "1":
        from auditor.trace import instrument

        watch = {int(w) for w in os.environ.get("PGOLF_TRACE_WATCH", "").split(",") if w}
        rec = instrument.install(os.environ["DATA_PATH"], _pairs(os.environ.get("PGOLF_TRACE_PERTURB", "")), watch)
    sys.argv = [str(script)]
    sys.path.insert(0, str(script.parent))
    status, error = "ok", ""
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        status = "ok" if code == 0 else f"exit:{code}"
    except BaseException as exc:  # noqa: BLE001 - the script's failure is data for the report
        traceback.print_exc()
        status, error = "exception", f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    if rec is not None:
        from auditor.trace import instrument

        rec.ledger.exit_status, rec.ledger.error, rec.ledger.shims = status, error, list(shims.USED)
        instrument.finish(rec, Path.cwd(), ledger_path)
    else:
        ledger_path.write_text('{"exit_status": "%s"}' % status, encoding="utf-8")
    sys.stdout.flush()
    sys.stderr.flush()
    return 0 if status == "ok" else 1


if __name__ == "__main__":
    os._exit(main())  # skip interpreter teardown: a script's stray threads must not hang the run
