"""Hidden check bodies, one module per checks module (same name as in ``lab.grade.checks``).

Everything whose bytes a student must not see lives here: ``lab kit build`` ships the
lab without this package and without the hidden checks' manifest entries.
"""
