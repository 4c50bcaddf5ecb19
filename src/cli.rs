//! Command-line arguments: one struct per subcommand, a doc line on every flag.

use clap::{Args, Parser, Subcommand};

/// Medical vision–language pre-training: ingest, inspect, stream, train.
#[derive(Debug, Parser)]
#[command(name = "unimlip", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// The I/O budget in seconds: how long one storage operation, retries included, may take
    /// before the command fails with one line (default 120; also UNIMLIP_IO_TIMEOUT).
    #[arg(long, global = true, value_name = "SECS", value_parser = positive_secs)]
    pub io_timeout: Option<f64>,
}

fn positive_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 86_400.0 => Ok(v),
        _ => Err(format!("`{s}` is not a number of seconds in (0, 86400]")),
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a small synthetic dataset in a dataset's exact published layout.
    Synth(SynthArgs),
    /// Convert a downloaded dataset into checksummed Parquet shards plus a manifest.
    Ingest(IngestArgs),
    /// Summarise (and optionally verify) an ingested dataset.
    Inspect(InspectArgs),
    /// Write a reproducible evaluation split (ids + recipe) under the dataset's splits/ folder.
    Splits(SplitsArgs),
    /// Measure the system's parts (the streaming loader).
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Train Uni-Mlip from a run config (TOML), on shards from disk or object storage.
    Train(TrainArgs),
    /// Tokenizer tools.
    #[command(subcommand)]
    Tokenizer(TokenizerCommand),
    /// Model tools.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Convert published checkpoints.
    #[command(subcommand)]
    Convert(ConvertCommand),
    /// Write trained weights for other tools (PMC-CLIP's code, safetensors).
    #[command(subcommand)]
    Export(ExportCommand),
    /// Downstream evaluation of a trained model.
    #[command(subcommand)]
    Eval(EvalCommand),
    /// Charts (losses, throughput, results) and one HTML page for run folders.
    Report(ReportArgs),
    /// The whole pipeline on generated data: synth, ingest, splits, train tiny, evaluate, report.
    Demo(DemoArgs),
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Run folders (metrics.jsonl and eval/*.json).
    #[arg(required = true)]
    pub runs: Vec<std::path::PathBuf>,
    /// Where the page and charts go (default: <first run>/report).
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
    /// A folder written by `unimlip inspect --sample` to show as a grid of views and captions.
    #[arg(long)]
    pub samples: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Working folder (generated sources, the run, the report).
    #[arg(long, default_value = "unimlip-demo")]
    pub out: std::path::PathBuf,
    /// Where the ingested datasets go (default: <out>/data); any store URL.
    #[arg(long)]
    pub store: Option<String>,
    /// full (a few minutes of training, under 15 minutes on 2 cores) or small (a quick check).
    #[arg(long, default_value = "full")]
    pub size: String,
    /// Start over in a folder that holds an earlier demo.
    #[arg(long)]
    pub force: bool,
    /// Seed of every stage (generation, training, evaluation).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Threads for libtorch and the loader in every stage (default: libtorch's own count, and
    /// the cores free for decoding). Two runs with the same seed and threads print the same
    /// tables and write the same result files.
    #[arg(long)]
    pub threads: Option<usize>,
}

#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// Image↔text retrieval: R@1/5/10, mean and median rank both ways.
    Retrieval(RetrievalArgs),
    /// CXR classification: linear probe or fine-tuning, test macro AUC.
    Classify(ClassifyArgs),
    /// VQA as classification over the answer set: open, closed and overall accuracy.
    Vqa(VqaArgs),
}

/// Which model to evaluate and where the results go.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// A run folder or URL (its newest checkpoint), or a weights file (with --config and --tokenizer).
    #[arg(long)]
    pub checkpoint: String,
    /// Model preset or TOML, when --checkpoint is a weights file.
    #[arg(long)]
    pub config: Option<String>,
    /// Tokenizer file, when --checkpoint is a weights file.
    #[arg(long)]
    pub tokenizer: Option<String>,
    /// Dataset root URL or folder.
    #[arg(long)]
    pub data: String,
    /// Folder for the result (`<task>-<dataset>[-<split>].json` and `.md`).
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
    /// Decoding threads, and libtorch's when given (default: the cores free at the start for
    /// decoding, libtorch's own count).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Do not write the result's numbers as TensorBoard scalars under --out/tensorboard.
    #[arg(long)]
    pub no_tensorboard: bool,
}

#[derive(Debug, Args)]
pub struct RetrievalArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// A split file (roco-2000, pmc-clip-compat) or a manifest split (test).
    #[arg(long, default_value = "roco-2000")]
    pub split: String,
    /// The split file's part.
    #[arg(long, default_value = "test")]
    pub part: String,
}

#[derive(Debug, Args)]
pub struct ClassifyArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// A split file with train / validation / test parts (e.g. chexpert-lowdata-0.01).
    #[arg(long)]
    pub split: String,
    /// finetune (the paper: the vision tower and a linear head) or linear (frozen encoder).
    #[arg(long, default_value = "finetune")]
    pub mode: String,
    /// Most epochs (early stopping on the validation macro AUC ends most runs sooner).
    #[arg(long, default_value_t = 64)]
    pub epochs: usize,
    /// Stop after this many epochs without a better validation macro AUC.
    #[arg(long, default_value_t = 5)]
    pub patience: usize,
    /// Adam learning rate of the head (fine-tuning: a tenth of it for the encoder).
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Images per step (the paper's: 190 for CheXpert, 150 for MIMIC-CXR and NIH).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(Debug, Args)]
pub struct VqaArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Manifest split to train on.
    #[arg(long, default_value = "train")]
    pub train: String,
    /// Manifest split to choose the epoch on; when the dataset has none (VQA-RAD), a seeded
    /// tenth of the training images is held out.
    #[arg(long, default_value = "validation")]
    pub validation: String,
    /// Manifest split to test on.
    #[arg(long, default_value = "test")]
    pub test: String,
    /// Epochs (default: M3AE's, VQA-RAD 50, SLAKE 15).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Questions per step (default: M3AE's, VQA-RAD 64, SLAKE 32).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// The encoders' peak learning rate (M3AE's 5e-6); the fusion gets --fusion-multiplier
    /// times it, the head --head-multiplier times.
    #[arg(long, default_value_t = 5e-6)]
    pub lr: f64,
    /// The head's learning-rate multiple (M3AE's lr_multiplier_head).
    #[arg(long, default_value_t = 50.0)]
    pub head_multiplier: f64,
    /// The fusion's learning-rate multiple (M3AE's lr_multiplier_multi_modal).
    #[arg(long, default_value_t = 5.0)]
    pub fusion_multiplier: f64,
    /// The loss: bce (M3AE's, an independent sigmoid per answer) or softmax.
    #[arg(long, value_enum, default_value_t = VqaLossArg::Bce)]
    pub loss: VqaLossArg,
    /// What the answer head reads: m3ae (the fused [CLS] and image tokens through M3AE's
    /// poolers) or queries (the mean of the 20 fused learnable tokens, model.md's design).
    #[arg(long, value_enum, default_value_t = HeadInputArg::M3ae)]
    pub head_input: HeadInputArg,
    /// Training crop: auto (M3AE's: SLAKE resized-crop, others centre), centre or resized-crop.
    #[arg(long, value_enum, default_value_t = TrainCropArg::Auto)]
    pub train_crop: TrainCropArg,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where the fusion block starts: random (the paper, §4.2) or pretrained (the
    /// pre-training fusion's first block).
    #[arg(long, default_value = "random")]
    pub fusion_init: String,
    /// Question length in tokens: 32 as M3AE's max_text_len, or up to the pre-training
    /// context (77).
    #[arg(long, default_value_t = 32)]
    pub question_length: usize,
    /// Leave the question's padding out of the fusion's attention, as M3AE's text mask
    /// (false: attend to it, model.md's design).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub mask_padding: bool,
}

/// `--loss` of `eval vqa`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VqaLossArg {
    /// BCE with logits times the number of answers (M3AE).
    Bce,
    /// Softmax cross-entropy.
    Softmax,
}

/// `--head-input` of `eval vqa`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HeadInputArg {
    /// The fused [CLS] and image tokens (M3AE).
    M3ae,
    /// The mean of the 20 fused learnable tokens.
    Queries,
}

/// `--train-crop` of `eval vqa`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TrainCropArg {
    /// M3AE's per dataset.
    Auto,
    /// Resize and centre-crop.
    Centre,
    /// RandomResizedCrop(0.9–1).
    ResizedCrop,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The run config (TOML; see `unimlip_trainer::TrainConfig`).
    #[arg(long)]
    pub config: std::path::PathBuf,
    /// Read these datasets instead of the config's sources (repeat to mix; URL@WEIGHT).
    #[arg(long)]
    pub data: Vec<String>,
    /// Run folder or URL instead of the config's `out`.
    #[arg(long)]
    pub out: Option<String>,
    /// Continue from the run folder's newest checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Stop with a checkpoint after this step, as a pre-empted job would (the schedule stays).
    #[arg(long)]
    pub stop_after: Option<i64>,
    /// Start this many local ranks, as `torchrun --nproc_per_node N` does (1 makes a group of one).
    #[arg(long)]
    pub nproc: Option<u32>,
    /// Seconds a rendezvous or collective may take before a distributed run gives up.
    #[arg(long, default_value_t = 300)]
    pub dist_timeout: u32,
    /// c10d backend of a distributed run: auto (NCCL on GPUs, else Gloo), gloo or nccl.
    #[arg(long, default_value = "auto")]
    pub backend: String,
    /// Threads for libtorch's intra-op pool and for the loader's augmentation pool each
    /// (default: libtorch's own count, and for the loader the cores available to this process
    /// less those other work keeps busy at the start).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum TokenizerCommand {
    /// Learn an uncased WordPiece vocabulary (vocab.txt) from a dataset's captions.
    Train(TokenizerTrainArgs),
}

#[derive(Debug, Args)]
pub struct TokenizerTrainArgs {
    /// Dataset root URL or folder.
    #[arg(long)]
    pub data: String,
    /// Manifest splits whose captions are used (repeat; default train).
    #[arg(long, default_values_t = ["train".to_string()])]
    pub split: Vec<String>,
    /// Vocabulary size, special tokens included.
    #[arg(long)]
    pub vocab_size: usize,
    /// Pieces seen fewer times are left out.
    #[arg(long, default_value_t = 2)]
    pub min_frequency: u64,
    /// The vocab.txt to write.
    #[arg(long)]
    pub out: std::path::PathBuf,
    /// Threads counting the words (default: all cores); the vocabulary does not depend on it.
    #[arg(long, default_value_t = 0, hide_default_value = true)]
    pub threads: usize,
}

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Run the model in eval mode on given tensors and write its features and losses.
    Forward(ForwardArgs),
}

#[derive(Debug, Args)]
pub struct ForwardArgs {
    /// Model preset (tiny, rn50-pubmedbert) or model TOML.
    #[arg(long)]
    pub config: String,
    /// Weights (safetensors, PMC-CLIP names).
    #[arg(long)]
    pub weights: std::path::PathBuf,
    /// Inputs (safetensors): pixel_values, input_ids, and optionally mlm_input_ids, mlm_labels,
    /// dropblock_noise, text_dropout_mask, view_a, view_b.
    #[arg(long)]
    pub inputs: std::path::PathBuf,
    /// Outputs (safetensors).
    #[arg(long)]
    pub out: std::path::PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum ConvertCommand {
    /// A PMC-CLIP checkpoint.pt to safetensors with the model's names (needs Python with torch).
    PmcClip(ConvertArgs),
    /// A Hugging Face BERT folder (PubMedBERT) to the text tower's `text_encoder.*` tensors, with
    /// its tokenizer and a model TOML beside them.
    HfBert(HfBertArgs),
}

#[derive(Debug, Args)]
pub struct HfBertArgs {
    /// The folder `save_pretrained` wrote: config.json, model.safetensors or pytorch_model.bin,
    /// vocab.txt.
    pub dir: std::path::PathBuf,
    /// The safetensors file to write; `<stem>.model.toml` and `<stem>.vocab.txt` go beside it.
    pub output: std::path::PathBuf,
    /// The model whose image side the written model TOML keeps (its text tower becomes the
    /// folder's).
    #[arg(long, default_value = "rn50-pubmedbert")]
    pub model: String,
    /// Python with torch, to read a pytorch_model.bin (default: $UNIMLIP_TORCH_PYTHON, else
    /// python3).
    #[arg(long)]
    pub python: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// A checkpoint PMC-CLIP's code loads (`torch.load`, then `state_dict` with `module.`
    /// names, as its released checkpoint.pt); needs Python with torch.
    PmcClip(ExportArgs),
    /// The plain tensors, with the model's names, as one safetensors file.
    Safetensors(ExportArgs),
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// A run folder or URL (its newest checkpoint), or a weights file (safetensors).
    pub input: String,
    /// The file to write.
    pub output: std::path::PathBuf,
    /// Model preset or TOML, when the input is a weights file (a run records its own).
    #[arg(long)]
    pub config: Option<String>,
    /// Keep the SimCLR head (`image_mlp.*`), which PMC-CLIP's model does not have: its strict
    /// `load_state_dict` refuses it (pmc-clip only; safetensors always keeps it).
    #[arg(long)]
    pub ssl_head: bool,
    /// Python with torch (default: $UNIMLIP_TORCH_PYTHON, else python3).
    #[arg(long)]
    pub python: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// The PMC-CLIP checkpoint (torch.save of {"state_dict": …}).
    pub input: std::path::PathBuf,
    /// The safetensors file to write.
    pub output: std::path::PathBuf,
    /// The model the result must load into.
    #[arg(long, default_value = "rn50-pubmedbert")]
    pub config: String,
    /// Python with torch (default: $UNIMLIP_TORCH_PYTHON, else python3).
    #[arg(long)]
    pub python: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Stream shards through the real reader and augmentation pool and report samples/s.
    Loader(BenchLoaderArgs),
    /// Validate (and resize) every JPEG and PNG under a folder as ingest would, writing nothing,
    /// and report images/s: how fast this machine can check a dataset's images.
    Decode(BenchDecodeArgs),
    /// Time one full training step (forward, the five losses, backward, AdamW) on a fixed
    /// batch, without the loader; `bench/step.sh` sets it against the PyTorch reference.
    Step(BenchStepArgs),
}

#[derive(Debug, Args)]
pub struct BenchStepArgs {
    /// Model preset (tiny, rn50-pubmedbert) or model TOML.
    #[arg(long, default_value = "tiny")]
    pub model: String,
    /// Samples per step.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Timed steps (the median is reported).
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Untimed steps before them.
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// AdamW's kernel: fused (libtorch's _fused_adamw_) or ops (written out).
    #[arg(long, default_value = "fused")]
    pub adamw: String,
    /// cpu, cuda or cuda:N (default: the first GPU when there is one).
    #[arg(long)]
    pub device: Option<String>,
    /// CUDA: keep weights and batches contiguous NCHW instead of channels-last.
    #[arg(long)]
    pub no_channels_last: bool,
    /// CUDA: leave cuDNN's algorithm benchmark off.
    #[arg(long)]
    pub no_cudnn_benchmark: bool,
    /// Write the batch and its random draws here for the reference (python/bench_step.py).
    #[arg(long)]
    pub dump: Option<std::path::PathBuf>,
    /// Seed of the weights and the batch.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print one JSON object instead of the summary.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BenchDecodeArgs {
    /// Folder searched recursively for .jpg, .jpeg and .png files.
    pub dir: std::path::PathBuf,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Resize policy as in ingest; `none` validates only.
    #[arg(long, default_value = "max-side=512")]
    pub resize: String,
    /// The most memory one image may take while decoded, as in ingest.
    #[arg(long, default_value = "512MiB")]
    pub image_memory: String,
    /// Print one JSON object instead of the summary.
    #[arg(long)]
    pub json: bool,
}

/// What the loader reads and how; shared by `bench loader` and `inspect --sample`.
#[derive(Debug, Args)]
pub struct LoaderArgs {
    /// Augmentation pipeline: rrc-flip, unimlip (PIL's arithmetic, as PMC-CLIP and SLIP),
    /// unimlip-tensor (torchvision's tensor kernels) or eval.
    #[arg(long, default_value = "rrc-flip")]
    pub pipeline: String,
    /// Seed of the order and the augmentations.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Manifest splits to read (repeat; all when absent).
    #[arg(long)]
    pub split: Vec<String>,
    /// Keep only the rows of a split file's part: NAME:PART (e.g. chexpert-lowdata-0.1:train).
    #[arg(long, value_name = "NAME:PART")]
    pub split_file: Option<String>,
    /// Local shard cache folder.
    #[arg(long)]
    pub cache: Option<std::path::PathBuf>,
    /// Byte cap of the cache, e.g. 20GiB.
    #[arg(long, default_value = "20GiB")]
    pub cache_size: String,
    /// Skip the SHA-256 check of each shard before its first use.
    #[arg(long)]
    pub no_verify: bool,
    /// The order's lane digits: twos-first (ranks of 2, 4, 8 read only their share of a
    /// window) or three-first (3, 6, 12, 24).
    #[arg(long, default_value = "twos-first")]
    pub lane_digits: String,
}

#[derive(Debug, Args)]
pub struct BenchLoaderArgs {
    /// Dataset root URL or folder; repeat to mix several (equal weights unless URL@WEIGHT).
    #[arg(long, required = true)]
    pub data: Vec<String>,
    #[command(flatten)]
    pub loader: LoaderArgs,
    /// Samples to stream (default: one epoch).
    #[arg(long)]
    pub samples: Option<u64>,
    /// Augmentation threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Samples per batch.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Start at this position of epoch 0 (measures the time to resume).
    #[arg(long, default_value_t = 0)]
    pub position: u64,
    /// Also hash every id and view byte in order (`sequence_sha256`; costs time).
    #[arg(long)]
    pub digest: bool,
    /// Print one JSON object instead of the summary.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SplitsArgs {
    /// Dataset root URL or folder (an ingested dataset).
    #[arg(long)]
    pub data: String,
    /// Recipe: official, lowdata, from-file, roco-2000 or pmc-clip-compat.
    #[arg(long)]
    pub recipe: String,
    /// Share of the training pool kept (lowdata), e.g. 0.01, 0.1, 1.0.
    #[arg(long)]
    pub fraction: Option<f64>,
    /// Random seed (lowdata: 0; roco-2000: 42; pmc-clip-compat: 0).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Uncertainty policy (lowdata): u-ones, u-zeros or chexpert-mixed5.
    #[arg(long, default_value = "u-ones")]
    pub policy: String,
    /// Views kept (lowdata): frontal or all.
    #[arg(long, default_value = "frontal")]
    pub views: String,
    /// Subset size rounding (lowdata): floor (int(), Huang et al.) or round (Python round, MRM).
    #[arg(long, default_value = "floor")]
    pub rounding: String,
    /// A published id list as PART=PATH (from-file); repeat for several parts.
    #[arg(long)]
    pub file: Vec<String>,
    /// Number of pairs (roco-2000, pmc-clip-compat).
    #[arg(long)]
    pub n: Option<usize>,
    /// Split name (file stem under splits/); each recipe has a default.
    #[arg(long)]
    pub name: Option<String>,
    /// Allow a patient in both train and another part (the CheXpert / MGCA recipes do).
    #[arg(long)]
    pub allow_patient_overlap: bool,
    /// Print the split description as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Dataset layout to write: pmc-oa, roco, mimic-cxr, chexpert, nih-cxr14, vqa-rad or slake.
    #[arg(long)]
    pub dataset: String,
    /// Folder to write it into (created if missing).
    #[arg(long)]
    pub out: std::path::PathBuf,
    /// Number of input records.
    #[arg(long, default_value_t = 200)]
    pub n: usize,
    /// Random seed; the same seed writes the same bytes.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print the report (records, expected rows and quarantine counts) as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Benchmark inputs instead (pmc-oa layout, no quirks): longer image side in LO-HI pixels.
    #[arg(long, value_name = "LO-HI")]
    pub image_size: Option<String>,
    /// Benchmark inputs: comma-separated encodings drawn in turn (jpeg, png8, png16).
    #[arg(long, default_value = "jpeg", requires = "image_size")]
    pub formats: String,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Dataset layout to read: pmc-oa, roco, mimic-cxr, chexpert, nih-cxr14, vqa-rad or slake.
    #[arg(long, required_unless_present = "commit")]
    pub dataset: Option<String>,
    /// Dataset root: a local folder or an object-store URL.
    #[arg(long, required_unless_present = "commit")]
    pub src: Option<String>,
    /// Output root: a local folder, file://, s3://, gs://, az://, abfs:// or memory:// URL.
    #[arg(long)]
    pub out: String,
    /// Image decoding threads (default: all cores).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Resize policy: none, max-side=N or short-side=N.
    #[arg(long, default_value = "max-side=512")]
    pub resize: String,
    /// The most memory one image may take while decoded and converted (the pool's peak is about
    /// this times --workers); an image needing more is quarantined as too-large.
    #[arg(long, default_value = "512MiB")]
    pub image_memory: String,
    /// Take the output's writer lease from its holder (one known to be gone: another host's
    /// ingest that was killed). A dead holder on this host is taken over without it.
    #[arg(long)]
    pub break_lease: bool,
    /// Dataset variant (pmc-oa: splits, pmc_oa or pmc_oa_beta).
    #[arg(long)]
    pub variant: Option<String>,
    /// Target shard size, e.g. 384MiB.
    #[arg(long, default_value = "384MiB")]
    pub shard_size: String,
    /// Target row-group size, e.g. 48MiB.
    #[arg(long, default_value = "48MiB")]
    pub row_group_size: String,
    /// Replace a committed dataset made from other inputs or options.
    #[arg(long)]
    pub overwrite: bool,
    /// Process only part I of N (0-based), e.g. one Slurm array task; then run --commit.
    #[arg(long, value_name = "I/N", conflicts_with = "commit")]
    pub partition: Option<String>,
    /// Merge the finished parts of a partitioned ingest into one manifest (needs only --out).
    #[arg(long)]
    pub commit: bool,
    /// Print the final report as one JSON object instead of the summary.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Dataset root URL or folder.
    pub url: String,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Re-hash every shard and check it against the manifest; exit non-zero on a mismatch.
    #[arg(long)]
    pub verify: bool,
    /// Write the augmented views of the first N samples as PNG files (needs --out).
    #[arg(long, value_name = "N", requires = "out")]
    pub sample: Option<usize>,
    /// Folder for --sample's PNG files and samples.json.
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
    /// Write a static page to look at the dataset (index.html and thumbs/) into this folder:
    /// the summary, counts per split, sampled thumbnails with their text, the quarantine table.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["sample", "json", "verify"])]
    pub html: Option<std::path::PathBuf>,
    /// Rows sampled per split for --html's grid.
    #[arg(long, value_name = "N", default_value_t = 12, requires = "html")]
    pub thumbnails: usize,
    #[command(flatten)]
    pub loader: LoaderArgs,
}
