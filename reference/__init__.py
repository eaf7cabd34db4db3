"""Reference Parameter Golf trainer: modules that `reference/build.py` joins into one records-style `train_gpt.py`."""
