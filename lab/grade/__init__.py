"""The lab's grader: exercises, checks, a sandbox for student code, scores and exporters.

Modules, one concept each:

- ``manifest``  exercises/NN-slug/manifest.toml: stages -> checks, points, visibility
- ``sandbox``   run student code in a confined subprocess; always clean up after it
- ``banned``    AST scan for imports an exercise forbids
- ``checks``    check bodies (``checks.parser``: a harness feeding the student's parser)
- ``runner``    stages in order, results written after every check, batches
- ``scoring``   the one scoring function
- ``feedback``  escaped bytes, carets, rules, hints, reproductions; the text report
- ``export``    json, text, Gradescope, JUnit, GitHub Classroom
- ``readme``    generates each README's "What is checked" section from its manifest
- ``cli``       ``lab grade`` and ``lab exercise``
"""
