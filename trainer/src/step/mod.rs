//! The loss graph: one Uni-Mlip forward pass to the five losses (model.md §5.6's step graph),
//! over one process's batch or the global batch of all ranks.
//!
//! - [`graph`]: [`losses_on`], one small function per loss;
//! - [`global`]: the draws over the global batch and [`unscale_replicated`];
//! - [`input`]: what goes in ([`StepInput`], [`Switches`]) and what comes out ([`Losses`]).

mod global;
mod graph;
mod input;

#[cfg(test)]
use tch::Tensor;

pub use global::unscale_replicated;
pub use graph::{StepLosses, losses_on};
pub use input::{ContrastiveGrad, I2iForm, Losses, Semantics, StepInput, Switches};

use crate::dist::Single;
use crate::losses::Weights;
use crate::model::UniMlip;

/// Runs the model on one batch in a single process. `train` enables dropout, DropBlock and
/// (unless SimCLR is on, which freezes them) BatchNorm statistics updates. The loss values are
/// detached; `total` carries the graph.
pub fn losses_single(
    m: &UniMlip,
    x: &StepInput<'_>,
    on: Switches,
    w: Weights,
    train: bool,
) -> Losses {
    let s = losses_on(m, x, on, w, train, Semantics::default(), &Single)
        .expect("a single process runs no collective that can fail");
    Losses {
        total: s.backward,
        ..s.log
    }
}

/// A random batch of the `tiny` model's shapes (96-px views, 77 ids under a 1,000-token
/// vocabulary, ~15 % of positions as MLM labels), drawn from libtorch's global generator.
#[cfg(test)]
pub(crate) struct RandomBatch {
    weak: Tensor,
    a: Tensor,
    b: Tensor,
    ids: Tensor,
    labels: Tensor,
}

#[cfg(test)]
impl RandomBatch {
    pub(crate) fn new(n: i64) -> RandomBatch {
        use tch::{Device, Kind};
        let px = || Tensor::randn([n, 3, 96, 96], (Kind::Float, Device::Cpu));
        let (weak, a, b) = (px(), px(), px());
        let ids = Tensor::randint(1000, [n, 77], (Kind::Int64, Device::Cpu));
        let picked = Tensor::rand([n, 77], (Kind::Float, Device::Cpu)).lt(0.15);
        let labels = ids.where_scalarother(&picked, 0);
        RandomBatch {
            weak,
            a,
            b,
            ids,
            labels,
        }
    }

    /// The batch as a step's input, with both strong views and drawn perturbations.
    pub(crate) fn input(&self) -> StepInput<'_> {
        StepInput {
            weak: &self.weak,
            strong: Some((&self.a, &self.b)),
            input_ids: &self.ids,
            mlm_labels: &self.labels,
            dropblock_noise: None,
            text_keep: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelConfig;
    use tch::{Device, nn};

    fn batch(b: i64) -> RandomBatch {
        tch::manual_seed(3);
        RandomBatch::new(b)
    }

    #[test]
    fn the_total_is_the_weighted_sum_and_switches_remove_terms() {
        let _rng = crate::rng_lock();
        tch::manual_seed(1);
        let vs = nn::VarStore::new(Device::Cpu);
        let m = UniMlip::new(&vs, &ModelConfig::tiny());
        let data = batch(4);
        let x = data.input();
        let l = losses_single(&m, &x, Switches::all(), Weights::default(), false);
        let v = |t: &Option<Tensor>| t.as_ref().unwrap().double_value(&[]);
        let want =
            0.167 * (v(&l.itc) + v(&l.itc_img) + v(&l.itc_txt)) + 0.5 * v(&l.i2i) + 0.5 * v(&l.mlm);
        assert!((l.total.double_value(&[]) - want).abs() < 1e-5);
        // In eval mode the perturbations are off: the three ITC terms coincide.
        assert!(
            (v(&l.itc) - v(&l.itc_img)).abs() < 1e-6 && (v(&l.itc) - v(&l.itc_txt)).abs() < 1e-6
        );
        let only = Switches {
            itc: true,
            itc_img: false,
            itc_txt: false,
            i2i: false,
            mlm: true,
            i2i_form: I2iForm::Slip,
            freeze_bn: true,
        };
        let l2 = losses_single(&m, &x, only, Weights::default(), false);
        assert!(l2.i2i.is_none() && l2.itc_img.is_none());
        assert!((l2.total.double_value(&[]) - (0.167 * v(&l.itc) + 0.5 * v(&l.mlm))).abs() < 1e-5);
    }

    #[test]
    fn simclr_freezes_the_visual_batch_norm_statistics_unless_asked_not_to() {
        let _rng = crate::rng_lock();
        tch::manual_seed(6);
        let data = batch(4);
        let moved = |freeze_bn: bool| {
            let vs = nn::VarStore::new(Device::Cpu);
            let m = UniMlip::new(&vs, &ModelConfig::tiny());
            let stat = || vs.variables()["visual.bn1.running_mean"].copy();
            let before = stat();
            let on = Switches {
                freeze_bn,
                ..Switches::all()
            };
            let _ = losses_single(&m, &data.input(), on, Weights::default(), true);
            !stat().equal(&before)
        };
        assert!(!moved(true), "frozen statistics moved");
        assert!(moved(false), "the naive SimCLR left the statistics alone");
    }

    #[test]
    fn every_loss_comes_out_fp32_and_finite_under_autocast() {
        let _rng = crate::rng_lock();
        tch::manual_seed(4);
        let vs = nn::VarStore::new(Device::Cpu);
        let m = UniMlip::new(&vs, &ModelConfig::tiny());
        let data = batch(4);
        let l = crate::amp::cpu_autocast(|| {
            losses_single(&m, &data.input(), Switches::all(), Weights::default(), true)
        });
        for (name, t) in [
            ("itc", &l.itc),
            ("itc_img", &l.itc_img),
            ("itc_txt", &l.itc_txt),
            ("i2i", &l.i2i),
            ("mlm", &l.mlm),
        ] {
            let t = t.as_ref().unwrap();
            assert_eq!(t.kind(), tch::Kind::Float, "{name}");
            assert!(t.double_value(&[]).is_finite(), "{name}");
        }
        assert_eq!(l.total.kind(), tch::Kind::Float);
    }

    #[test]
    fn a_few_adamw_steps_on_one_batch_lower_every_loss() {
        let _rng = crate::rng_lock();
        tch::manual_seed(2);
        let vs = nn::VarStore::new(Device::Cpu);
        let m = UniMlip::new(&vs, &ModelConfig::tiny());
        let mut opt = nn::OptimizerConfig::build(nn::AdamW::default(), &vs, 1e-3).unwrap();
        let data = batch(8);
        let x = data.input();
        let first = losses_single(&m, &x, Switches::all(), Weights::default(), false)
            .total
            .double_value(&[]);
        for _ in 0..15 {
            let l = losses_single(&m, &x, Switches::all(), Weights::default(), true);
            opt.backward_step(&l.total);
        }
        let last = losses_single(&m, &x, Switches::all(), Weights::default(), false)
            .total
            .double_value(&[]);
        assert!(last < first * 0.9, "{first} -> {last}");
    }
}
