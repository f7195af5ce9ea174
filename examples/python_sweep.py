# %% [markdown]
# # accelsim from Python: reports/latency-vs-bits.svg, and a search with `evaluate`
#
# Cells (`# %%`) for VS Code / Jupytext; also runs as a script:
#     pip install ./python pandas matplotlib   # optuna optional
#     python examples/python_sweep.py          # writes out/py_latency-vs-bits.png
#
# The sweep is the one `reports/make_examples.sh` runs for its figures (MobileNet-v1 part):
#     accelsim sweep --hw systolic32,mac8,nvdla_full --model mnv1,resnet18 --wbits 4,8,16 --abits 8

# %%
import os
import random

import accelsim

df = accelsim.sweep(
    hw=["systolic32", "mac8", "nvdla_full"], model=["mnv1", "resnet18"], wbits=[4, 8, 16], abits=8
)
rows = df if isinstance(df, list) else df.to_dict("records")
for r in rows:
    print(f"{r['hw']:>11} {r['model']:>9} w{r['wbits']:<2} {r['latency_s'] * 1e3:9.3f} ms {r['energy_pj'] / 1e9:8.3f} mJ")

# %% Latency against weight bits, one line per accelerator (as reports/latency-vs-bits.svg).
try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    plt = None
if plt is not None:
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, model in zip(axes, ["mnv1", "resnet18"]):
        for hw in ["systolic32", "mac8", "nvdla_full"]:
            pts = sorted((int(r["wbits"]), r["latency_s"] * 1e3) for r in rows if r["hw"] == hw and r["model"] == model)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=hw)
        ax.set(title=model, xlabel="weight bits", ylabel="latency (ms)", xticks=[4, 8, 16], yscale="log")
    axes[0].legend()
    os.makedirs("out", exist_ok=True)
    fig.tight_layout()
    fig.savefig("out/py_latency-vs-bits.png", dpi=120)
    print("wrote out/py_latency-vs-bits.png")

# %% [markdown]
# ## A search over an accelerator description with `evaluate`
# One design at a time: array shape and weight bits of mac8 running MobileNet-v1, minimising
# the energy-delay product. Uses Optuna when installed, else plain random search.


# %%
def edp(rows_, cols, wbits):
    r = accelsim.evaluate(
        {"hw": "mac8", "model": "mnv1", "wbits": wbits, "set": {"mac.rows": rows_, "mac.cols": cols}}
    )
    return r["latency_s"] * r["energy_pj"]


try:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial):
        return edp(
            trial.suggest_categorical("rows", [8, 16, 32, 64]),
            trial.suggest_categorical("cols", [8, 16, 32, 64]),
            trial.suggest_categorical("wbits", [4, 8]),
        )

    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=1))
    study.optimize(objective, n_trials=30)
    print("optuna best:", study.best_params, f"EDP {study.best_value:.4g} s*pJ")
except ImportError:
    rng = random.Random(1)
    best = None
    for _ in range(30):
        p = (rng.choice([8, 16, 32, 64]), rng.choice([8, 16, 32, 64]), rng.choice([4, 8]))
        v = edp(*p)
        if best is None or v < best[0]:
            best = (v, p)
    print("random search best (rows, cols, wbits):", best[1], f"EDP {best[0]:.4g} s*pJ")
