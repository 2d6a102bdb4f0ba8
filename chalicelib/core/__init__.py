"""The pure funnel core: the funnel language, the engine, validation and the simulator.

Nothing here imports AWS, HTTP or Chalice code (tests/unit/core/test_purity.py enforces it):
only the standard library, pydantic, PyYAML and python-liquid. pydantic only validates (where
funnels, broadcasts and segments are written): the language is plain dataclasses, which the
engine and the stream worker read without it.

    plain.py       @model dataclasses, their markers, load/dump, pydantic's TypeAdapter over them
    funnel.py      the language (frozen dataclasses), to_dict/from_dict, JSON Schema
    conditions.py  condition models (branch `when`, wait_until, exit rules, trigger)
    matching.py    property filters (`where:`)
    durations.py   "1d12h" and "09:30" types
    validate.py    parse_funnel: YAML to a Funnel, semantic checks with file:line (problems.py)
    flow.py        the step graph (edges, reachability, wait-free loops); graph.py: Mermaid
    templates.py   Liquid compile cache, render context, template checks
    state.py       ContactView, EnrollmentState;  decisions.py: inputs and decisions
    evaluate.py    condition evaluation;  clock.py: time-of-day, quiet hours, caps
    engine.py      start() / decide() -> Outcome(state, decisions, trace)
    index.py       TriggerIndex, matches_trigger, matches_date_trigger, may_enter
    story.py       story files;  simulator.py: the in-memory reference runtime

The user-facing description of the language is docs/funnels.md.
"""
