#!/usr/bin/env bash
# The audit step of action.yml (also runnable locally with the same environment variables GitHub sets).
#
# Reads only environment variables: GITHUB_WORKSPACE (the PR checkout, HEAD = the PR's merge or head commit),
# GITHUB_EVENT_PATH (for the base commit), GITHUB_BASE_REF, GITHUB_STEP_SUMMARY, GITHUB_OUTPUT, the action inputs
# INPUT_BASE / INPUT_FAIL_ON / INPUT_REVIEW_FILE / INPUT_SARIF_FILE, and PGOLF_AUDIT (the command to run; default
# `pgolf-audit`). No value is ever pasted into shell code. Exit status: pgolf-audit's (0, 1 findings, 2 error).
set -euo pipefail

cd "${GITHUB_WORKSPACE:?GITHUB_WORKSPACE is not set}"
read -r -a audit <<< "${PGOLF_AUDIT:-pgolf-audit}"
review="${INPUT_REVIEW_FILE:-pgolf-audit-review.md}"
sarif="${INPUT_SARIF_FILE:-pgolf-audit.sarif}"

base="${INPUT_BASE:-}"
if [ -z "$base" ] && [ -f "${GITHUB_EVENT_PATH:-}" ]; then
    base="$(python3 -c 'import json, sys
event = json.load(open(sys.argv[1], encoding="utf-8"))
print(((event.get("pull_request") or {}).get("base") or {}).get("sha") or "")' "$GITHUB_EVENT_PATH")"
fi
if [ -z "$base" ]; then
    base="origin/${GITHUB_BASE_REF:-main}"
fi

status=0
"${audit[@]}" scan --git . --refs HEAD --base "$base" --mode gate --fail-on "${INPUT_FAIL_ON:-illegal}" \
    --quiet --color never --format github --write "review=$review" --write "sarif=$sarif" || status=$?

if [ -n "${GITHUB_STEP_SUMMARY:-}" ] && [ -f "$review" ]; then
    cat "$review" >> "$GITHUB_STEP_SUMMARY"
fi
if [ -n "${GITHUB_OUTPUT:-}" ]; then
    {
        echo "exit-code=$status"
        echo "review-file=$review"
        echo "sarif-file=$sarif"
    } >> "$GITHUB_OUTPUT"
fi
exit "$status"
