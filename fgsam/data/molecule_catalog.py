"""Catalog entries of the molecule datasets (MoleculeNet CSVs, named as in OGB).

Each entry has one file: the MoleculeNet CSV as DeepChem publishes it (``.csv.gz`` URLs are
decompressed on download, so the sha256 is that of the CSV), with the offline copies
accepted as alternates. ``options["columns"]`` maps every accepted file path to its SMILES
column and its label columns, in OGB's task order. ``options["task_type"]`` and
``options["eval_metric"]`` are those of :class:`ogb.graphproppred.Evaluator` for the name.
``stats["molecules"]`` counts the rows of the published file, ``stats["ogb_graphs"]`` the
graphs of OGB's version; rows RDKit cannot parse are skipped and counted by the loader.
"""

from __future__ import annotations

from fgsam.data.dataset_info import DatasetInfo
from fgsam.data.files import FileSpec

_DEEPCHEM = "https://deepchemdata.s3-us-west-1.amazonaws.com/datasets"
_KANO = "https://github.com/HICAI-ZJU/KANO/raw/766b478fde816ea014c713f380b73e87cd780da8/data"
_CITATION = ("Z. Wu, B. Ramsundar et al., MoleculeNet: A Benchmark for Molecular Machine "
             "Learning, Chemical Science 2018; OGB: W. Hu et al., Open Graph Benchmark, "
             "NeurIPS 2020")
_SPLIT = "scaffold (OGB) or random"

_TOX21 = ["NR-AR", "NR-AR-LBD", "NR-AhR", "NR-Aromatase", "NR-ER", "NR-ER-LBD",
          "NR-PPAR-gamma", "SR-ARE", "SR-ATAD5", "SR-HSE", "SR-MMP", "SR-p53"]
_SIDER = [
    "Hepatobiliary disorders", "Metabolism and nutrition disorders", "Product issues",
    "Eye disorders", "Investigations", "Musculoskeletal and connective tissue disorders",
    "Gastrointestinal disorders", "Social circumstances", "Immune system disorders",
    "Reproductive system and breast disorders",
    "Neoplasms benign, malignant and unspecified (incl cysts and polyps)",
    "General disorders and administration site conditions", "Endocrine disorders",
    "Surgical and medical procedures", "Vascular disorders",
    "Blood and lymphatic system disorders", "Skin and subcutaneous tissue disorders",
    "Congenital, familial and genetic disorders", "Infections and infestations",
    "Respiratory, thoracic and mediastinal disorders", "Psychiatric disorders",
    "Renal and urinary disorders", "Pregnancy, puerperium and perinatal conditions",
    "Ear and labyrinth disorders", "Cardiac disorders", "Nervous system disorders",
    "Injury, poisoning and procedural complications",
]


def _molecules(name: str, spec: FileSpec, columns: dict[str, tuple[str, list[str]]],
               molecules: int, ogb_graphs: int, regression: bool = False,
               notes: str = "") -> DatasetInfo:
    tasks = next(iter(columns.values()))[1]
    return DatasetInfo(
        name=name, kind="molecule", format="moleculenet-csv", files=(spec,),
        stats={"molecules": molecules, "tasks": len(tasks), "ogb_graphs": ogb_graphs},
        citation=_CITATION,
        options={
            "columns": {path: {"smiles": s, "labels": list(labels)}
                        for path, (s, labels) in columns.items()},
            "task_type": "regression" if regression else "binary classification",
            "eval_metric": "rmse" if regression else "rocauc",
            "split": _SPLIT,
        },
        notes=notes,
    )


#: Molecule datasets, in the order ``fgsam datasets`` lists them.
MOLECULES: list[DatasetInfo] = [
    _molecules(
        "ogbg-molbbbp",
        FileSpec("moleculenet/BBBP.csv", f"{_DEEPCHEM}/BBBP.csv",
                 "d07a38487aeac5cee5508413e468043ef3097451d2a112701c2d60be9ec6b662"),
        {"moleculenet/BBBP.csv": ("smiles", ["p_np"])}, 2050, 2039,
        notes="11 SMILES of the published file do not parse with recent RDKit (2,039 remain, "
              "as in OGB).",
    ),
    _molecules(
        "ogbg-molbace",
        FileSpec("moleculenet/bace.csv", f"{_DEEPCHEM}/bace.csv",
                 "f3fb9ce90bada3e2bd6148b0df13f8f8145a357bf87df0dd5b391ede974fc737",
                 (FileSpec("moleculenet/chemprop_format/bace.csv", f"{_KANO}/bace.csv",
                           "5fb6e2a87a148ec7393c1d874d26ec40ee74eb6223ea7d2bfa16d153eb75eb55"),)),
        {"moleculenet/bace.csv": ("mol", ["Class"]),
         "moleculenet/chemprop_format/bace.csv": ("smiles", ["Class"])}, 1513, 1513,
        notes="The two-column chemprop-format copy (smiles, Class) is accepted too.",
    ),
    _molecules(
        "ogbg-molclintox",
        FileSpec("moleculenet/clintox.csv", f"{_DEEPCHEM}/clintox.csv.gz",
                 "9999816e760dd838358b5d88e81cea2fc062be4458ffa412ceecdba4f88a67b6"),
        {"moleculenet/clintox.csv": ("smiles", ["FDA_APPROVED", "CT_TOX"])}, 1484, 1477,
        notes="4 SMILES do not parse with recent RDKit (1,480 remain; OGB has 1,477).",
    ),
    _molecules(
        "ogbg-molsider",
        FileSpec("moleculenet/sider.csv", f"{_DEEPCHEM}/sider.csv.gz",
                 "71efc6ac4ca82d6545bc512509863281be0f17234afd7adaf71a71899988302e"),
        {"moleculenet/sider.csv": ("smiles", _SIDER)}, 1427, 1427,
    ),
    _molecules(
        "ogbg-moltox21",
        FileSpec("moleculenet/tox21.csv", f"{_DEEPCHEM}/tox21.csv.gz",
                 "7d7e7facd853a63e79ddce4e9c3fcb7a0d83a1c300b603031c0f2c64fbe77761"),
        {"moleculenet/tox21.csv": ("smiles", _TOX21)}, 7831, 7831,
        notes="Missing labels (16,026 cells) stay NaN and are masked out of loss and metric; "
              "8 SMILES do not parse with recent RDKit.",
    ),
    _molecules(
        "ogbg-molhiv",
        FileSpec("moleculenet/HIV.csv", f"{_DEEPCHEM}/HIV.csv",
                 "9ffa7fe57dc86c342627ee1d5255e937e2ab812393c73c4d16c697022f6e1d22",
                 (FileSpec("moleculenet/HIV.csv.gz", f"{_DEEPCHEM}/HIV.csv",
                           "81c0dc45814deb6ee9d8cc83078e06b95736fb2eb78d747b0d055fee1c6ec4c5"),)),
        {"moleculenet/HIV.csv": ("smiles", ["HIV_active"]),
         "moleculenet/HIV.csv.gz": ("smiles", ["HIV_active"])}, 41127, 41127,
        notes="A gzip-compressed copy with normalised line endings (HIV.csv.gz) is accepted "
              "too; 7 SMILES do not parse with recent RDKit.",
    ),
    _molecules(
        "ogbg-molesol",
        FileSpec("moleculenet/delaney-processed.csv", f"{_DEEPCHEM}/delaney-processed.csv",
                 "8c06a76f0c6487d29ab0f903e6a7a7139f189ab3c1178f159c8be8964602f189"),
        {"moleculenet/delaney-processed.csv":
            ("smiles", ["measured log solubility in mols per litre"])}, 1128, 1128,
        regression=True,
    ),
    _molecules(
        "ogbg-molfreesolv",
        FileSpec("moleculenet/SAMPL.csv", f"{_DEEPCHEM}/SAMPL.csv",
                 "ab5895d914ee87cb563bd7b9611e869527bba45bec6b014d34dc495a0f9dcb72",
                 (FileSpec("moleculenet/chemprop_format/freesolv.csv", f"{_KANO}/freesolv.csv",
                           "97d74c86228d4c16c0fbbf063bb8280354d8152db09a85ade8517a2f43bd9824"),)),
        {"moleculenet/SAMPL.csv": ("smiles", ["expt"]),
         "moleculenet/chemprop_format/freesolv.csv": ("smiles", ["freesolv"])}, 642, 642,
        regression=True,
        notes="The two-column chemprop-format copy (smiles, freesolv) is accepted too.",
    ),
    _molecules(
        "ogbg-mollipo",
        FileSpec("moleculenet/Lipophilicity.csv", f"{_DEEPCHEM}/Lipophilicity.csv",
                 "aed41590cb30609d51d8e08ad3ff06495a76e80e211358801f596b10da69bacd"),
        {"moleculenet/Lipophilicity.csv": ("smiles", ["exp"])}, 4200, 4200,
        regression=True,
    ),
]

__all__ = ["MOLECULES"]
