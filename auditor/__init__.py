"""pgolf-audit: compliance auditor for OpenAI Parameter Golf submissions."""

__version__ = "0.1.0"
