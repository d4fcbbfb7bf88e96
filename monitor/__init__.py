"""Change detection, diffs, alerts, scheduling and the command line of newswatch."""
