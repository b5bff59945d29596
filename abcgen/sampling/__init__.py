"""Writing tunes: the batched stateful sampler and the writer's policy on top of the grammar."""
