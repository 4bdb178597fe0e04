"""The research workbench: turn stored runs into tables (and, later, charts)."""
