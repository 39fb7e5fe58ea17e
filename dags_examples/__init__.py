"""Runnable example DAGs for the Partner Center Insights provider, and the demo runner behind ``make demo``.

The DAG files here are also the source of the code shown in the user guide (``docs/``), through
snippet markers, so the documentation cannot drift from code that is parsed and run by the tests.
"""
