"""Record review: what a submission folder claims and what its logs show (issue #3).

folder.py finds the files and parses the logs, submission.py reads submission.json against its schema, stats.py
holds the significance test, facts.py bundles it all, checks/ holds one checker per record rule and review.py runs
them into the report.
"""
