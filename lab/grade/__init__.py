"""The lab's grader: exercises, checks, a sandbox for student code, scores and exporters.

Modules, one concept each:

- ``manifest``  exercises/NN-slug/manifest.toml: stages -> checks, points, visibility
- ``sandbox``   run student code in a confined subprocess; always clean up after it
- ``banned``    AST scan for imports an exercise forbids
- ``checks``    check bodies: ``checks.parser`` (a harness feeds the student's parser in the
                sandbox), ``checks.net`` (the lab served on the student's modules, raw bytes
                over a socket), ``checks.request_parsing`` (exercise 01's cases)
- ``runner``    stages in order, results written after every check, batches
- ``scoring``   the one scoring function
- ``feedback``  escaped bytes, carets, rules, hints, reproductions; the text report
- ``export``    json, text, Gradescope, JUnit, GitHub Classroom
- ``readme``    generates each README's "What is checked" section from its manifest
- ``cli``       ``lab grade`` and ``lab exercise``
- ``impl``      load a submission in place of the lab modules it replaces (``serve``:
                ``python -m lab.grade.serve`` runs the lab's CLI that way)
- ``feed``      ``python -m lab.grade.feed``: feed bytes to your parser, print its events
- ``gradescope`` build the Gradescope autograder zip
- ``kit``       ``lab kit build``: the student edition (starters in place, hidden checks out)
- ``starters``  makes each starter from its reference module and the exercise's starter.toml
- ``pcap``      ``--pcap DIR``: each socket check's traffic, captured in the server's netns
- ``hidden``    hidden check bodies (never shipped in the kit), merged by ``check_registry``
"""
