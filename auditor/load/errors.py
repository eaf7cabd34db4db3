"""The two ways input can fail: a usage/input error (exit 2) or code that cannot be analysed (fail closed)."""


class InputError(Exception):
    """Missing path, folder without a training script, malformed submission.json: exit code 2."""


class Unanalyzable(Exception):
    """Empty, binary, undecodable or unparsable code, or a missing sibling: verdict `unanalyzable`, exit 1."""
