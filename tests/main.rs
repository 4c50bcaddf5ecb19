//! End-to-end tests of the `unimlip` command line: each module runs the real binary on data
//! that `unimlip synth` generates in a dataset's published layout.

mod util;

/// Bad arguments and unreadable inputs: one clear line and a non-zero exit.
mod bad_input;
/// The benchmark scripts' CPU parts: the GPU check's dry run, the step bench and its reference.
mod bench_scripts;
/// The demo (every stage at a small size) and each evaluation on its own.
mod demo;
/// Distributed training: Gloo ranks against one process, elastic resume, a killed rank.
mod dist;
/// synth → ingest → inspect on local disk, with every count checked.
mod ingest_local;
/// `bench loader` and `inspect --sample`: the streaming reader through the CLI.
mod loader;
/// MIMIC-CXR, CheXpert, NIH, VQA-RAD and SLAKE from their published layouts.
mod more_datasets;
/// `inspect --html`: the dataset page in headless Chromium.
mod page;
/// Training step by step against the PyTorch reference on the same batches and draws.
mod parity;
/// Scale-out ingest: parts in separate processes, then one commit.
mod partition;
/// The shards open in pyarrow with the v1 columns and the expected values.
mod pyarrow;
/// Reliability: byte-order marks, tampered caches, stalled stores, damaged datasets, leases.
mod reliability;
/// An ingest killed mid-run, then re-run, ends with the same shards.
mod resume;
/// The same ingest on a real S3 server on loopback (s3s-fs).
mod s3;
/// Reproducible evaluation splits: recipes, determinism, patient disjointness.
mod splits;
/// Uni-Mlip training, resumption, the forward harness against the PyTorch reference, and
/// checkpoint conversion.
mod train;
/// `inspect --verify` catches a shard altered by one byte.
mod verify;
/// Weights in and out: Hugging Face BERT folders, PMC-CLIP checkpoints, plain safetensors.
mod weights;
