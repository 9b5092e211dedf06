"""`python -m bindu_schema.kinds`: print the generated JSON Schema (schema/bindu-schema.json)."""

import sys

from . import json_schema_text

sys.stdout.write(json_schema_text())
