"""Data curation before training: personal data, safety filters, duplicates, decontamination.

``mindgate curate`` (``harness.curate.pipeline.curate``) is the entry point.
"""
