"""Figures and tables built from arrays that finished runs wrote; nothing here trains.

Import the module you need (``analysis.tables``, ``analysis.embedding``,
``analysis.reconstruction``) so that writing a table does not pay for importing scikit-learn.
"""
