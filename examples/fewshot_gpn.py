"""Few-shot node classification on Cora: GPN meta-trained with FGSAM+, episode by episode.

Each training step gets two closures: the episode's loss through the GNN, and the same loss
through the PeerMLP view (``peer=True``: the same weights, message passing removed, run on the
episode's support and query rows only). Most FGSAM+ steps need only the second, so training
costs less than Adam's GNN steps. ``fgsam fsnc`` runs the whole protocol (validation, early
stopping, repeats, confidence intervals); this script shows the loop it is made of.

    python examples/fewshot_gpn.py [--root DATA_ROOT] [--episodes 300]
"""

import argparse
import time

import torch

from fgsam.data import load_graph
from fgsam.fewshot import GPN, EpisodeSampler, derive_seed, mean_and_ci95, task_pool
from fgsam.optim import create_optimizer, training_step

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--root", default=None, help="data root (default: $FGSAM_DATA or ./datasets)")
parser.add_argument("--optimizer", default="fgsam+", help="e.g. adam, sam, fgsam, fgsam+")
parser.add_argument("--episodes", type=int, default=300)
parser.add_argument("--way", type=int, default=2)
parser.add_argument("--shot", type=int, default=3)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
args = parser.parse_args()

data, split = load_graph("cora", args.root)  # TLP's 3/2/2 class split
data = data.to(args.device)
print(f"{data.num_nodes} nodes, classes: {split}")

model = GPN(data.num_features, hidden_channels=16, dropout=0.2)
model.reset_parameters(args.seed)  # seeded weights and dropout, no global RNG
model = model.to(args.device)
rho = {"fgsam+": {"rho": 0.1}, "adam": {}}.get(args.optimizer, {"rho": 0.05})
opt = create_optimizer(model, args.optimizer, lr=5e-3, weight_decay=5e-4,  # seed: own draws
                       seed=derive_seed(args.seed, "optimizer"), **rho)

train_tasks = EpisodeSampler(data.y, split.train, args.way, args.shot, 10,
                             generator=derive_seed(args.seed, "train"))
test_tasks = task_pool(data.y, split.test, args.way, args.shot, 10, num_tasks=100,
                       seed=args.seed, stream="test")

start = time.perf_counter()
for episode in range(args.episodes):
    task = train_tasks.sample()
    model.train()
    loss = training_step(
        opt,
        lambda task=task: model.loss(data, task),  # GNN view: the whole graph
        lambda task=task: model.loss(data, task, peer=True),  # PeerMLP view: task rows only
    )
    if (episode + 1) % 50 == 0:
        print(f"episode {episode + 1}: loss {loss.item():.4f}")
seconds = time.perf_counter() - start

model.eval()
with torch.no_grad():
    accs = [(model(data, t).argmax(-1) == t.query_y).float().mean().item() for t in test_tasks]
mean, ci = mean_and_ci95(accs)
print(f"{args.optimizer}: test accuracy {100 * mean:.2f} ± {100 * ci:.2f} over {len(accs)} tasks "
      f"({seconds / args.episodes * 200:.2f} s / 200 episodes, including task sampling)")
