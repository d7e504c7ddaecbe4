"""Datasets: the catalog, the data root, file fetching, the few-shot graph loaders, the
checks that refuse bad graphs (:func:`check_graph`) and the molecules
(:class:`MoleculeDataset`)."""

from fgsam.data.catalog import CATALOG, dataset_info, list_datasets
from fgsam.data.check_graph import check_class_split, check_graph
from fgsam.data.class_split import ClassSplit, class_sizes
from fgsam.data.dataset_info import DatasetInfo
from fgsam.data.files import FileSpec, fetch, file_status, sha256sum
from fgsam.data.load_graph import load_graph
from fgsam.data.molecule_dataset import MoleculeDataset
from fgsam.data.neighbor_sampler import NeighborSampler
from fgsam.data.root import data_root
from fgsam.data.synthetic import SHAPES, GraphShape, synthetic_graph

__all__ = [
    "CATALOG",
    "SHAPES",
    "ClassSplit",
    "DatasetInfo",
    "FileSpec",
    "GraphShape",
    "MoleculeDataset",
    "NeighborSampler",
    "check_class_split",
    "check_graph",
    "class_sizes",
    "data_root",
    "dataset_info",
    "fetch",
    "file_status",
    "list_datasets",
    "load_graph",
    "sha256sum",
    "synthetic_graph",
]
