//! Distributed training on c10d: the [`ProcessGroup`] trait, its Gloo implementation (through a
//! C++ shim) and the single-process one, torchrun's environment, and the pieces of DDP the loop
//! uses (parameter broadcast, gradient averaging, feature gathering).

mod c10d;

use tch::{Kind, Tensor, nn};

pub use c10d::C10d;

use crate::{Error, Result};

/// The collectives the trainer needs.
pub trait ProcessGroup: std::fmt::Debug {
    /// This process's rank.
    fn rank(&self) -> u32;
    /// The number of processes.
    fn world(&self) -> u32;
    /// Sums `t` over ranks, in place.
    fn allreduce_sum(&self, t: &mut Tensor) -> Result<()>;
    /// Copies rank `root`'s `t` to every rank, in place.
    fn broadcast(&self, t: &mut Tensor, root: u32) -> Result<()>;
    /// Every rank's `t`, concatenated along dimension 0 in rank order (no gradient).
    fn all_gather(&self, t: &Tensor) -> Result<Tensor>;
    /// Waits for every rank.
    fn barrier(&self) -> Result<()>;
}

/// One process: every collective is the identity.
#[derive(Debug, Default, Clone, Copy)]
pub struct Single;

impl ProcessGroup for Single {
    fn rank(&self) -> u32 {
        0
    }
    fn world(&self) -> u32 {
        1
    }
    fn allreduce_sum(&self, _: &mut Tensor) -> Result<()> {
        Ok(())
    }
    fn broadcast(&self, _: &mut Tensor, _: u32) -> Result<()> {
        Ok(())
    }
    fn all_gather(&self, t: &Tensor) -> Result<Tensor> {
        Ok(t.detach())
    }
    fn barrier(&self) -> Result<()> {
        Ok(())
    }
}

/// The c10d backend of a distributed run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Gloo, on host tensors.
    Gloo,
    /// NCCL, on CUDA tensors (one GPU per rank, from `LOCAL_RANK`).
    Nccl,
}

impl Backend {
    /// `gloo`, `nccl`, or `auto` (NCCL when CUDA is available and the NCCL path is built).
    pub fn parse(s: &str) -> Result<Backend> {
        match s {
            "gloo" => Ok(Backend::Gloo),
            "nccl" if cfg!(unimlip_nccl) => Ok(Backend::Nccl),
            "nccl" => Err(Error::Config(
                "this build has no NCCL path (its headers were missing at build time)".into(),
            )),
            "auto" if cfg!(unimlip_nccl) && tch::Cuda::is_available() => Ok(Backend::Nccl),
            "auto" => Ok(Backend::Gloo),
            other => Err(Error::Config(format!(
                "backend `{other}`: expected auto, gloo or nccl"
            ))),
        }
    }

    /// The device a rank of this backend computes on.
    pub fn device(self, local_rank: u32) -> tch::Device {
        match self {
            Backend::Gloo => tch::Device::Cpu,
            Backend::Nccl => tch::Device::Cuda(local_rank as usize),
        }
    }
}

/// A c10d group with its rank and size.
#[derive(Debug)]
pub struct C10dGroup {
    pg: C10d,
    rank: u32,
    world: u32,
    /// Its backend.
    pub backend: Backend,
}

fn dist_err(e: String) -> Error {
    Error::Config(format!("c10d: {e}"))
}

impl C10dGroup {
    /// Joins the Gloo group described by `env`.
    pub fn join(env: &DistEnv, timeout_ms: u32) -> Result<C10dGroup> {
        Self::join_with(env, Backend::Gloo, timeout_ms)
    }

    /// Joins the group described by `env` on `backend`.
    pub fn join_with(env: &DistEnv, backend: Backend, timeout_ms: u32) -> Result<C10dGroup> {
        let (host, port, rank, world) = (&env.master_addr, env.master_port, env.rank, env.world);
        let pg = match backend {
            Backend::Gloo => C10d::gloo(host, port, rank, world, timeout_ms),
            #[cfg(unimlip_nccl)]
            Backend::Nccl => C10d::nccl(host, port, rank, world, timeout_ms),
            #[cfg(not(unimlip_nccl))]
            Backend::Nccl => Err("this build has no NCCL path".to_string()),
        }
        .map_err(dist_err)?;
        Ok(C10dGroup {
            pg,
            rank,
            world,
            backend,
        })
    }
}

impl ProcessGroup for C10dGroup {
    fn rank(&self) -> u32 {
        self.rank
    }
    fn world(&self) -> u32 {
        self.world
    }
    fn allreduce_sum(&self, t: &mut Tensor) -> Result<()> {
        self.pg.allreduce_sum(t).map_err(dist_err)
    }
    fn broadcast(&self, t: &mut Tensor, root: u32) -> Result<()> {
        self.pg.broadcast(t, root).map_err(dist_err)
    }
    fn all_gather(&self, t: &Tensor) -> Result<Tensor> {
        let mut input = t.detach().contiguous();
        let mut shape = input.size();
        shape[0] *= self.world as i64;
        let mut out = Tensor::empty(shape.as_slice(), (input.kind(), input.device()));
        self.pg.all_gather(&mut input, &mut out).map_err(dist_err)?;
        Ok(out)
    }
    fn barrier(&self) -> Result<()> {
        self.pg.barrier().map_err(dist_err)
    }
}

/// torchrun's environment: `RANK`, `WORLD_SIZE`, `LOCAL_RANK`, `MASTER_ADDR`, `MASTER_PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistEnv {
    /// Global rank.
    pub rank: u32,
    /// Number of processes.
    pub world: u32,
    /// Rank on this node (picks the GPU).
    pub local_rank: u32,
    /// Rendezvous host.
    pub master_addr: String,
    /// Rendezvous port.
    pub master_port: u16,
}

impl DistEnv {
    /// Reads the variables; `None` when `WORLD_SIZE` is absent (a plain single process). A
    /// `WORLD_SIZE` of 1 is a group of one (as `torchrun --nproc_per_node 1` makes).
    pub fn from_env() -> Result<Option<DistEnv>> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// As [`DistEnv::from_env`], from any lookup.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Option<DistEnv>> {
        let world: u32 = match get("WORLD_SIZE") {
            None => return Ok(None),
            Some(w) => w
                .parse()
                .map_err(|_| Error::Config(format!("WORLD_SIZE={w} is not a number")))?,
        };
        if world == 0 {
            return Err(Error::Config("WORLD_SIZE=0".into()));
        }
        let num = |k: &str, default: Option<u32>| -> Result<u32> {
            match (get(k), default) {
                (Some(v), _) => v
                    .parse()
                    .map_err(|_| Error::Config(format!("{k}={v} is not a number"))),
                (None, Some(d)) => Ok(d),
                (None, None) => Err(Error::Config(format!(
                    "WORLD_SIZE={world} but {k} is not set"
                ))),
            }
        };
        let rank = num("RANK", None)?;
        if rank >= world {
            return Err(Error::Config(format!(
                "RANK={rank} is not below WORLD_SIZE={world}"
            )));
        }
        Ok(Some(DistEnv {
            rank,
            world,
            local_rank: num("LOCAL_RANK", Some(rank))?,
            master_addr: get("MASTER_ADDR").unwrap_or_else(|| "127.0.0.1".into()),
            master_port: num("MASTER_PORT", Some(29500))? as u16,
        }))
    }
}

/// Copies rank 0's parameters and buffers to every rank.
pub fn broadcast_vars(pg: &dyn ProcessGroup, vs: &nn::VarStore) -> Result<()> {
    let vars = vs.variables();
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort();
    tch::no_grad(|| -> Result<()> {
        for n in names {
            let mut t = vars[n].shallow_clone();
            pg.broadcast(&mut t, 0)?;
        }
        Ok(())
    })
}

/// Averages the gradients of `vs` over ranks, in buckets of one flat tensor per dtype.
pub fn average_grads(pg: &dyn ProcessGroup, vs: &nn::VarStore) -> Result<()> {
    if pg.world() == 1 {
        return Ok(());
    }
    let vars = vs.trainable_variables();
    tch::no_grad(|| -> Result<()> {
        let grads: Vec<Tensor> = vars
            .iter()
            .map(|v| {
                let g = v.grad();
                if g.defined() { g } else { v.zeros_like() }
            })
            .collect();
        let mut flat = Tensor::cat(
            &grads
                .iter()
                .map(|g| g.reshape([-1]).to_kind(Kind::Float))
                .collect::<Vec<_>>(),
            0,
        );
        pg.allreduce_sum(&mut flat)?;
        let flat = flat / pg.world() as f64;
        let mut at = 0i64;
        for (v, g) in vars.iter().zip(&grads) {
            let n = g.numel() as i64;
            let avg = flat.narrow(0, at, n).view_as(g).to_kind(g.kind());
            at += n;
            // Every rank runs the same graph, so a parameter without a gradient here has none
            // anywhere (its slot in the bucket is zeros on every rank).
            let mut grad = v.grad();
            if grad.defined() {
                grad.copy_(&avg);
            }
        }
        Ok(())
    })
}

/// Features of the global batch for a loss that every rank computes in full: every rank's `t`
/// gathered without gradient, with this rank's slice put back as `t` itself (with gradient), as
/// OpenCLIP does.
pub fn gather_features(pg: &dyn ProcessGroup, t: &Tensor) -> Result<Tensor> {
    if pg.world() == 1 {
        return Ok(t.shallow_clone());
    }
    let all = pg.all_gather(t)?;
    let parts = all.chunk(pg.world() as i64, 0);
    let mut slices: Vec<Tensor> = parts.into_iter().collect();
    slices[pg.rank() as usize] = t.shallow_clone();
    Ok(Tensor::cat(&slices, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torchrun_variables_are_read_and_checked() {
        let env = |pairs: &[(&str, &str)]| {
            let m: std::collections::HashMap<String, String> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            DistEnv::from_lookup(move |k| m.get(k).cloned())
        };
        assert_eq!(env(&[]).unwrap(), None);
        let one = env(&[("WORLD_SIZE", "1"), ("RANK", "0")]).unwrap().unwrap();
        assert_eq!((one.rank, one.world), (0, 1));
        assert!(env(&[("WORLD_SIZE", "0"), ("RANK", "0")]).is_err());
        let e = env(&[("WORLD_SIZE", "2"), ("RANK", "1"), ("MASTER_PORT", "1234")])
            .unwrap()
            .unwrap();
        assert_eq!(
            (e.rank, e.world, e.local_rank, e.master_port),
            (1, 2, 1, 1234)
        );
        assert_eq!(e.master_addr, "127.0.0.1");
        assert!(env(&[("WORLD_SIZE", "2")]).is_err());
        assert!(env(&[("WORLD_SIZE", "2"), ("RANK", "2")]).is_err());
        assert!(env(&[("WORLD_SIZE", "x")]).is_err());
    }

    #[test]
    fn the_backend_is_nccl_on_gpus_and_gloo_elsewhere() {
        let auto = Backend::parse("auto").unwrap();
        assert_eq!(
            auto == Backend::Nccl,
            cfg!(unimlip_nccl) && tch::Cuda::is_available()
        );
        assert_eq!(Backend::parse("gloo").unwrap(), Backend::Gloo);
        // The default build compiles the NCCL path (setup installs its headers).
        const { assert!(cfg!(unimlip_nccl), "the NCCL shim was not built") };
        assert_eq!(Backend::parse("nccl").unwrap(), Backend::Nccl);
        assert_eq!(Backend::Nccl.device(1), tch::Device::Cuda(1));
        assert!(Backend::parse("mpi").is_err());
    }

    #[test]
    fn two_gloo_ranks_sum_broadcast_and_gather() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let run = move |rank: u32| {
            std::thread::spawn(move || {
                let env = DistEnv {
                    rank,
                    world: 2,
                    local_rank: rank,
                    master_addr: "127.0.0.1".into(),
                    master_port: port,
                };
                let pg = C10dGroup::join(&env, 30_000).unwrap();
                let mut t = Tensor::from_slice(&[rank as f32 + 1.0, 10.0]);
                pg.allreduce_sum(&mut t).unwrap();
                let sum = Vec::<f32>::try_from(&t).unwrap();
                let mut b = Tensor::from_slice(&[rank as f32 * 5.0]);
                pg.broadcast(&mut b, 1).unwrap();
                let g = pg
                    .all_gather(&Tensor::from_slice(&[rank as f32, -(rank as f32)]))
                    .unwrap();
                pg.barrier().unwrap();
                (
                    sum,
                    Vec::<f32>::try_from(&b).unwrap(),
                    Vec::<f32>::try_from(&g).unwrap(),
                )
            })
        };
        let (a, b) = (run(0), run(1));
        for h in [a, b] {
            let (sum, bc, g) = h.join().unwrap();
            assert_eq!(sum, [3.0, 20.0]);
            assert_eq!(bc, [5.0]);
            assert_eq!(g, [0.0, 0.0, 1.0, -1.0]);
        }
    }
}
