"""Parses Prometheus text (stdin) with the reference client library's parser; prints every sample as one JSON
line of {"name", "labels", "value"}, then {"families": N}. Any text the parser refuses raises (exit status 1)."""

import json
import sys

from prometheus_client.parser import text_string_to_metric_families

text = sys.stdin.read()
families = 0
for family in text_string_to_metric_families(text):
    families += 1
    for sample in family.samples:
        print(json.dumps({"family": family.name, "type": family.type, "name": sample.name, "labels": sample.labels, "value": sample.value}))
print(json.dumps({"families": families}))
