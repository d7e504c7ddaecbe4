"""Train the molecular graph transformer with GraphSAM on BBBP (OGB's scaffold split).

GraphSAM needs one forward/backward per step (plus one per epoch), against SAM's two: it
reuses the previous step's gradient as the perturbation direction. ``fgsam mol`` runs the
whole comparison (several optimizers, seeds, checkpoints); this script shows the loop it
is made of.

    python examples/molecules_graphsam.py [--root DATA_ROOT] [--epochs 20]
    python examples/molecules_graphsam.py --max-molecules 200 --epochs 1   # seconds
"""

import argparse

import torch
from ogb.graphproppred import Evaluator

from fgsam.mol import MoleculeDataset, MoleculeSplit, evaluate, masked_loss
from fgsam.nn import MolTransformer
from fgsam.optim import GraphSAM


def main(argv: list[str] | None = None) -> float:
    """Train and return the test metric (ROC-AUC on BBBP)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="ogbg-molbbbp", help="an OGB molecule name")
    parser.add_argument("--root", default=None,
                        help="data root (default: $FGSAM_DATA or ./datasets)")
    parser.add_argument("--cache-dir", default=None,
                        help="processed-graph cache (default: beside the CSV if writable, "
                             "else the user cache)")
    parser.add_argument("--max-molecules", type=int, default=None,
                        help="use only the first N molecules (a quick trial)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rho", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)

    # SMILES -> graphs with OGB features, cached after the first run
    dataset = MoleculeDataset(args.dataset, args.root, args.cache_dir)
    # 80/10/10 by Bemis-Murcko scaffold, so test molecules have unseen scaffolds
    data = MoleculeSplit.make(dataset, "scaffold", max_molecules=args.max_molecules)
    train_loader = data.loader("train", batch_size=args.batch_size, shuffle=True, seed=args.seed)
    evaluator = Evaluator(dataset.name)
    metric = evaluator.eval_metric

    torch.manual_seed(args.seed)
    model = MolTransformer(dataset.num_tasks, hidden=64, layers=3, heads=4).to(args.device)
    opt = GraphSAM(model.parameters(), torch.optim.Adam, rho=args.rho, lr=1e-3)

    for epoch in range(args.epochs):
        opt.start_epoch()  # decays rho and refreshes the perturbation direction
        train_loader.sampler.set_epoch(epoch)
        model.train()
        for batch in train_loader:
            batch = batch.to(args.device)
            loss = opt.step(lambda batch=batch: masked_loss(model(batch), batch.y,
                                                            dataset.task_type))
        valid = evaluate(model, data.loader("valid"), evaluator, args.device)
        print(f"epoch {epoch + 1:2d}  loss {loss.item():.4f}  valid {metric} {valid:.4f}")

    test = evaluate(model, data.loader("test"), evaluator, args.device)
    print(f"test {metric} {test:.4f}")
    return test


if __name__ == "__main__":
    main()
