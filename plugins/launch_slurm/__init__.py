"""Built-in Slurm launcher: sbatch + srun + accelerate launch on every node."""
