"""MuJoCo generators: robot and scene assets, tasks, scripted experts, domain randomization."""
