"""A job in the PlanQK layout: estimate the bias of a simulated coin.

`run(data, params)` gets the parsed `data.json` and `params.json`; whatever it
returns becomes the job's result.
"""

import random


def run(data, params):
    flips = int(params.get("flips", 1000))
    bias = float(data.get("bias", 0.5))
    seed = params.get("seed", 7)
    if not 0.0 <= bias <= 1.0:
        raise ValueError(f"data.bias must be between 0 and 1, got {bias}")

    rng = random.Random(seed)
    heads = sum(rng.random() < bias for _ in range(flips))
    print(f"flipped {flips} coins")
    return {"flips": flips, "heads": heads, "estimate": heads / flips}
