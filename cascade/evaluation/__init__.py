"""Evaluation, in one place: `adherence` scores a model's images against the scenes their prompts
describe (on the procedural world, `cascade.data`), `safety` measures the prompt filter on its labelled
prompts, and `cli` is `cascade eval adherence` / `cascade eval safety`. See docs/TRAINING.md and
docs/SAFETY.md."""
