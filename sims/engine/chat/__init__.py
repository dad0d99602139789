"""A synthetic chat world and its tiny chat models, shared by the safety-alignment papers (`sims.safety`,
`sims.ptst`): the world (instruction families, compliant answers and refusals, prompt templates, the judge), the
measurements on its models (attack success, accuracy, per-position KL), and building, training and caching chains
of model stages."""
