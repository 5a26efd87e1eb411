#!/usr/bin/python3
"""Parses a Prometheus text exposition with the Prometheus project's own Python client (prometheus_client.parser),
an implementation independent of prom-client, and prints the families as JSON: {name: {type, samples: [[name,
labels, value], ...]}}. A document it cannot parse makes it exit with status 1 and the parser's error.

usage: parse_metrics.py < metrics.txt
"""
import json
import math
import sys

from prometheus_client.parser import text_string_to_metric_families


def main():
    text = sys.stdin.read()
    try:
        families = {
            f.name: {
                "type": f.type,
                "help": f.documentation,
                "samples": [[s.name, s.labels, None if math.isnan(s.value) else s.value] for s in f.samples],
            }
            for f in text_string_to_metric_families(text)
        }
    except Exception as err:  # the parser raises ValueError (and others) on malformed input
        print(f"unparsable exposition: {err}", file=sys.stderr)
        return 1
    json.dump(families, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
