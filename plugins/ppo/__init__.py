"""Workbench's own PPO trainer for RLHF (TRL removed its PPOTrainer in 1.13).

Modules: `core` (the tensor maths), `config` (PPOConfig), `modeling` (policy + value
head), `rewards` (reward function / reward model), `checkpoint`, `trainer`
(PPORunner and the `build` factory) and `plugin` (the pluggy registration, torch-free).
"""
