//! The loader's threads sized from the cores this process can use now: the cores it may run on
//! (`available_parallelism`, which follows CPU affinity and cgroup quotas) less those that
//! other work keeps busy at the start. libtorch's intra-op pool keeps its own default, a fixed
//! function of the machine: its thread count decides the last bits of CPU results, and a run
//! resumed with another count would no longer reach the same weights bit for bit. When other
//! work is found, the plan says so, since libtorch's threads then spin against it.

/// How many threads libtorch and the loader get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ThreadPlan {
    /// Cores this process may run on.
    pub cores: usize,
    /// Of those, kept busy by other work when the plan was made.
    pub busy: usize,
    /// libtorch intra-op threads.
    pub torch: usize,
    /// Loader (decode and augmentation) threads.
    pub loader: usize,
}

impl ThreadPlan {
    /// The plan for `cores` cores of which `busy` run other work, with libtorch at `torch`
    /// threads: the loader gets the free cores (at least one); its threads mostly wait on full
    /// queues while the step computes, so they share the cores with libtorch's.
    pub fn new(cores: usize, busy: usize, torch: usize) -> ThreadPlan {
        ThreadPlan {
            cores: cores.max(1),
            busy: busy.min(cores),
            torch: torch.max(1),
            loader: cores.saturating_sub(busy).max(1),
        }
    }

    /// The plan for this machine now.
    pub fn now() -> ThreadPlan {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        ThreadPlan::new(cores, busy_elsewhere(), tch::get_num_threads() as usize)
    }

    /// One line for the log.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "threads: libtorch {}, loader {} ({} cores, {} busy with other work)",
            self.torch, self.loader, self.cores, self.busy
        );
        if self.busy > 0 && self.torch + self.busy > self.cores {
            s.push_str(&format!(
                "; libtorch's threads will compete with that work: --threads {} sizes both \
                 pools to the free cores (CPU results then differ in the last bits from a run \
                 with another thread count)",
                self.loader
            ));
        }
        s
    }
}

/// Runnable threads other than this one, the least of a few reads of `/proc/stat` 10 ms apart
/// (a momentary burst is not a busy core); 0 where there is no `/proc/stat`.
fn busy_elsewhere() -> usize {
    let mut least = usize::MAX;
    for i in 0..5 {
        if i > 0 {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        match std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| procs_running(&s))
        {
            Some(n) => least = least.min(n),
            None => return 0,
        }
    }
    least.saturating_sub(1)
}

/// The `procs_running` count of a `/proc/stat` text.
fn procs_running(stat: &str) -> Option<usize> {
    stat.lines()
        .find_map(|l| l.strip_prefix("procs_running "))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loader_takes_the_free_cores_and_libtorch_keeps_its_count() {
        let p = ThreadPlan::new(2, 0, 2);
        assert_eq!((p.torch, p.loader), (2, 2));
        assert!(!p.describe().contains("compete"), "{}", p.describe());
        let p = ThreadPlan::new(2, 1, 2);
        assert_eq!((p.torch, p.loader), (2, 1));
        assert!(p.describe().contains("--threads 1"), "{}", p.describe());
        assert_eq!(ThreadPlan::new(2, 5, 2).loader, 1, "never below one");
        assert_eq!(ThreadPlan::new(16, 3, 8).loader, 13);
        assert!(!ThreadPlan::new(16, 3, 8).describe().contains("compete"));
    }

    #[test]
    fn procs_running_is_read_from_proc_stat() {
        let stat = "cpu  1 2 3\nctxt 99\nprocs_running 3\nprocs_blocked 0\n";
        assert_eq!(procs_running(stat), Some(3));
        assert_eq!(procs_running("cpu 1\n"), None);
        let p = ThreadPlan::now();
        assert!(p.torch >= 1 && p.torch <= p.cores);
    }
}
