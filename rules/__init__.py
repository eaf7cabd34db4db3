"""Rule catalogue data: one TOML file per rule. A package only so that installs ship the data."""
