//! Uni-Mlip's downstream evaluations (model.md §8): image↔text retrieval, chest X-ray
//! classification (linear probe and fine-tuning, macro AUC) and VQA as classification over the
//! answer set, with their metrics as pure functions and results as JSON and Markdown tables.
//!
//! # Contents
//! - **Retrieval**: [`retrieval`] a [`RetrievalJob`] → [`RetrievalResult`] (R@1/5/10 and ranks
//!   both ways).
//! - **Classification**: [`classify`] a [`ClassifyJob`] in a [`Mode`] → [`ClassifyResult`]
//!   (macro AUC).
//! - **VQA**: [`vqa`] a [`VqaJob`] → [`VqaResult`] (overall, open, closed accuracy), with its
//!   answer rule [`normalize_answer`].
//! - **Encoding**: [`encode_images`] (an evaluation source, each row once) and
//!   [`encode_texts`].
//! - **Metrics**: [`metrics`] (ranks, recall@k, ROC-AUC, macro AUC, VQA accuracy).
//! - **Output**: Markdown tables ([`retrieval_table`], [`classify_table`], [`vqa_table`]) and the
//!   report page with its charts ([`read_run`], [`write_report`]).
//!
//! The data comes from the loader's each-row-once reads (`unimlip_loader::Loader::once`); the
//! trainer supplies only the model and its checkpoints ([`unimlip_trainer::Trained`]).

mod answers;
mod classify;
mod error;
mod features;
pub mod metrics;
mod report;
mod retrieval;
mod tables;
mod vqa;

pub use answers::normalize_answer;
pub use classify::{ClassifyJob, ClassifyResult, Mode, classify, paper_batch_size};
pub use error::{Error, Result};
pub use features::{ImageSet, encode_images, encode_texts};
pub use report::{RunData, read_run, write_report};
pub use retrieval::{
    PMC_EVAL_BATCH, RetrievalJob, RetrievalResult, dropped_partial_batch, retrieval,
};
pub use tables::{classify_table, retrieval_table, vqa_table};
pub use vqa::{
    ANSWER_RULE, EpochScore, FusionInit, HeadInput, QUERY_TOKENS, QUESTION_LENGTH, Schedule,
    TrainCrop, VqaJob, VqaLoss, VqaResult, m3ae_epochs_and_batch, vqa,
};
