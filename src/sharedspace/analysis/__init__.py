"""Figures and pages built from what runs wrote; nothing here trains.

Import the module you need (``analysis.embedding``, ``analysis.reconstruction``,
``analysis.transfer``, ``analysis.report``) so that one figure does not pay for importing
scikit-learn.
"""
