"""What every route takes and answers, one module per resource (contract.py)."""
