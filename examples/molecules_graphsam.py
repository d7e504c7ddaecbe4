"""Train the molecular graph transformer with GraphSAM on BBBP (OGB's scaffold split).

    python examples/molecules_graphsam.py            # data root: $FGSAM_DATA or ./datasets
"""

import torch
from ogb.graphproppred import Evaluator

from fgsam.mol import MoleculeDataset, MoleculeSplit, evaluate, masked_loss
from fgsam.nn import MolTransformer
from fgsam.optim import GraphSAM

device = "cuda" if torch.cuda.is_available() else "cpu"
dataset = MoleculeDataset("ogbg-molbbbp")  # SMILES -> graphs with OGB features, cached
data = MoleculeSplit.make(dataset, "scaffold")  # 80/10/10 by Bemis-Murcko scaffold
train_loader = data.loader("train", batch_size=32, shuffle=True, seed=0)
evaluator = Evaluator(dataset.name)

torch.manual_seed(0)
model = MolTransformer(dataset.num_tasks, hidden=64, layers=3, heads=4).to(device)
opt = GraphSAM(model.parameters(), torch.optim.Adam, rho=0.05, lr=1e-3)

for epoch in range(20):
    opt.start_epoch()  # decays rho and refreshes the perturbation direction
    train_loader.sampler.set_epoch(epoch)
    model.train()
    for batch in train_loader:
        batch = batch.to(device)
        # One forward/backward per step (plus one per epoch), against SAM's two.
        loss = opt.step(lambda batch=batch: masked_loss(model(batch), batch.y, dataset.task_type))
    valid = evaluate(model, data.loader("valid"), evaluator, device)
    print(f"epoch {epoch + 1:2d}  loss {loss.item():.4f}  valid ROC-AUC {valid:.4f}")

test = evaluate(model, data.loader("test"), evaluator, device)
print(f"test ROC-AUC {test:.4f}")
