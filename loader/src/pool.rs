//! The planner, the augmentation workers and the ordered hand-out of batches.
//!
//! ```text
//! planner thread ──jobs──▶ worker threads ──finished──▶ consumer (Stream)
//!   (fetches row groups        (decode + views into       (reorders by batch index,
//!    on the tokio runtime)      recycled batch buffers)     returns buffers on drop)
//! ```
//! The queues are bounded crossbeam channels; batch buffers circulate through a free list, so
//! in steady state no sample allocates. Memory is bounded by the row groups of the current and
//! next shuffle window (this rank's share), the queued jobs and the fixed set of buffers.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded};
use unimlip_shards::plan::{Cursor, Order, Sample, splitmix};

use crate::augment::Augmenter;
use crate::fetch::{BlockRef, Fetcher};
use crate::stats::Stats;
use crate::{Error, LoaderConfig, Result};

/// What one rank streams.
#[derive(Debug)]
pub(crate) struct Plan {
    pub order: Arc<Order>,
    pub seed: u64,
    pub epoch: u64,
    pub mixture: Vec<(String, f64)>,
    /// Global position the stream starts from (the cursor's).
    pub from: u64,
    /// Batches this rank delivers.
    pub batches: u64,
    pub rank: u32,
    pub world: u32,
    pub batch_size: usize,
}

impl Plan {
    /// The rank's first position at or after `from`.
    fn first(&self) -> u64 {
        let (w, r) = (self.world as u64, self.rank as u64);
        let base = self.from - self.from % w + r;
        if base >= self.from { base } else { base + w }
    }
}

/// One sample of a batch: where it came from and its metadata.
#[derive(Debug, Clone)]
pub struct SampleRef {
    /// Position in the epoch's global order.
    pub position: u64,
    /// The sample the order put there.
    pub sample: Sample,
    /// The row whose image was rendered: the sample's own, or its deterministic replacement.
    pub row: u32,
    block: BlockRef,
}

impl SampleRef {
    /// Whether the image failed to decode and another row of its block was rendered instead.
    pub fn replaced(&self) -> bool {
        self.row != self.sample.row
    }

    /// The sample's id.
    pub fn id(&self) -> &str {
        self.block.id(self.sample.row as usize)
    }

    /// The sample's caption.
    pub fn caption(&self) -> Option<&str> {
        self.block.caption(self.sample.row as usize)
    }

    /// The sample's labels.
    pub fn labels(&self) -> Option<&[f32]> {
        self.block.labels(self.sample.row as usize)
    }
}

struct Job {
    index: u64,
    items: Vec<SampleRef>,
}

enum Msg {
    Job(Job),
    Failed(Error),
}

struct Finished {
    index: u64,
    views: Vec<Vec<u8>>,
    items: Vec<SampleRef>,
}

/// A batch: `views[v]` holds `len × side × side × 3` bytes (RGB, row-major), sample `i` at
/// offset `i × side² × 3`. Dropping it hands its buffers back to the pool; the pool has a fixed
/// number (threads + 3), so a consumer that keeps more than a few batches alive stalls the
/// stream until it lets one go.
#[derive(Debug)]
pub struct Batch {
    /// Index of the batch in this rank's stream.
    pub index: u64,
    /// The cursor to save once every rank has consumed this batch.
    pub cursor: Cursor,
    views: Vec<Vec<u8>>,
    sides: Vec<u32>,
    items: Vec<SampleRef>,
    free: Sender<Vec<Vec<u8>>>,
}

impl Batch {
    /// Samples in the batch.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The samples.
    pub fn samples(&self) -> &[SampleRef] {
        &self.items
    }

    /// All of view `v`: `len × side × side × 3` bytes.
    pub fn view(&self, v: usize) -> &[u8] {
        &self.views[v]
    }

    /// Side of view `v` in pixels.
    pub fn side(&self, v: usize) -> u32 {
        self.sides[v]
    }

    /// Number of views per sample.
    pub fn views(&self) -> usize {
        self.views.len()
    }

    /// Moves view `v`'s buffer out of the batch (for a consumer that keeps the pixels, such as
    /// a NumPy array); the pool allocates a new buffer in its place instead of reusing this one.
    pub fn take_view(&mut self, v: usize) -> Vec<u8> {
        std::mem::take(&mut self.views[v])
    }

    /// View `v` of sample `i` (`side × side × 3` bytes).
    pub fn image(&self, i: usize, v: usize) -> &[u8] {
        let n = (self.sides[v] * self.sides[v] * 3) as usize;
        &self.views[v][i * n..(i + 1) * n]
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        let _ = self.free.send(std::mem::take(&mut self.views));
    }
}

/// The batches of one rank, in order.
#[derive(Debug)]
pub struct Stream {
    ready: Receiver<Result<Finished>>,
    jobs: Receiver<Msg>,
    pending: BTreeMap<u64, Finished>,
    next: u64,
    total: u64,
    step: u64,
    cursor: Cursor,
    sides: Vec<u32>,
    free: Sender<Vec<Vec<u8>>>,
    /// The other end of `free`, to take the idle batch buffers back when the stream ends.
    idle: Receiver<Vec<Vec<u8>>>,
    /// The loader's stash of batch buffers, kept from one stream (epoch) to the next.
    spare: Spare,
    /// How many buffers the stream uses.
    buffers: usize,
    /// The threads running this stream's workers and planner, handed back to the loader when
    /// the stream ends.
    crew: Option<Crew>,
    crew_slot: CrewSlot,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
    failed: bool,
}

/// A job for one of a crew's threads, given the thread's augmenter (kept from one stream to the
/// next with its scratch buffers and decoder handle).
type Task = Box<dyn FnOnce(&mut Option<Augmenter>) + Send>;

/// Threads a loader keeps from one stream (epoch) to the next: its workers and its planner.
/// A thread that exits leaves its allocator heap behind, and a run of many short epochs grew
/// by about 80 KB a stream when each had new threads; reused threads also start the next epoch
/// without spawning.
pub(crate) struct Crew {
    tasks: Vec<Sender<Task>>,
}

impl std::fmt::Debug for Crew {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Crew({} threads)", self.tasks.len())
    }
}

impl Crew {
    /// `workers` augmentation threads and one planner thread.
    fn new(workers: usize) -> Result<Crew> {
        let mut tasks = Vec::with_capacity(workers + 1);
        for t in 0..=workers {
            let (tx, rx) = bounded::<Task>(1);
            let name = match t == workers {
                true => "unimlip-plan".to_string(),
                false => format!("unimlip-aug-{t}"),
            };
            std::thread::Builder::new()
                .name(name)
                .spawn(move || {
                    let mut aug = None;
                    for task in rx {
                        task(&mut aug);
                    }
                })
                .map_err(|e| Error::Worker(e.to_string()))?;
            tasks.push(tx);
        }
        Ok(Crew { tasks })
    }

    fn workers(&self) -> usize {
        self.tasks.len() - 1
    }

    fn run(&self, thread: usize, task: Task) -> Result<()> {
        self.tasks[thread]
            .send(task)
            .map_err(|_| Error::Worker("a loader thread stopped".into()))
    }
}

/// Where a loader keeps its crew between streams (empty while a stream uses it).
pub(crate) type CrewSlot = Arc<std::sync::Mutex<Option<Crew>>>;

/// Batch buffers kept by a loader between its streams: an epoch's tens of megabytes are reused
/// by the next one instead of freed and allocated again (an allocator keeps such churn resident,
/// and a run of many short epochs grew by about 80 KB per epoch).
pub(crate) type Spare = Arc<std::sync::Mutex<Vec<Vec<Vec<u8>>>>>;

impl std::fmt::Debug for Finished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Finished({})", self.index)
    }
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Msg")
    }
}

impl Stream {
    /// Batches left to deliver.
    pub fn remaining(&self) -> u64 {
        self.total - self.next
    }

    /// The cursor before the next batch (the stream's start before the first).
    pub fn cursor(&self) -> &Cursor {
        &self.cursor
    }
}

impl Iterator for Stream {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Result<Batch>> {
        if self.next >= self.total || self.failed {
            return None;
        }
        let t0 = Instant::now();
        let done = loop {
            if let Some(f) = self.pending.remove(&self.next) {
                break f;
            }
            match self.ready.recv() {
                Ok(Ok(f)) => {
                    self.pending.insert(f.index, f);
                }
                Ok(Err(e)) => {
                    self.failed = true;
                    return Some(Err(e));
                }
                Err(_) => {
                    self.failed = true;
                    return Some(Err(Error::Worker("the workers stopped".into())));
                }
            }
        };
        Stats::time(&self.stats.consumer_wait_ns, t0);
        let s = &self.stats;
        s.batches.fetch_add(1, Relaxed);
        s.samples.fetch_add(done.items.len() as u64, Relaxed);
        s.job_depth_sum.fetch_add(self.jobs.len() as u64, Relaxed);
        s.ready_depth_sum
            .fetch_add((self.pending.len() + self.ready.len()) as u64, Relaxed);
        self.next += 1;
        self.cursor.position += self.step;
        Some(Ok(Batch {
            index: done.index,
            cursor: self.cursor.clone(),
            views: done.views,
            sides: self.sides.clone(),
            items: done.items,
            free: self.free.clone(),
        }))
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
        if let Some(crew) = self.crew.take() {
            let mut slot = self.crew_slot.lock().expect("crew");
            if slot.is_none() {
                *slot = Some(crew);
            }
        }
        let mut spare = self.spare.lock().expect("spare buffers");
        while spare.len() < self.buffers {
            match self.idle.try_recv() {
                Ok(b) => spare.push(b),
                Err(_) => break,
            }
        }
    }
}

/// The seed of a sample's augmentations: (run seed, epoch, sample id, position).
pub fn sample_seed(seed: u64, epoch: u64, id: &str, position: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    splitmix(seed ^ splitmix(epoch ^ splitmix(h ^ splitmix(position))))
}

pub(crate) fn start(
    plan: Plan,
    config: &LoaderConfig,
    fetcher: Arc<Fetcher>,
    runtime: Arc<tokio::runtime::Runtime>,
    stats: Arc<Stats>,
    spare: Spare,
    crew_slot: CrewSlot,
) -> Result<Stream> {
    let threads = config.threads;
    let (job_tx, job_rx) = bounded::<Msg>(config.prefetch_batches.max(1));
    let (ready_tx, ready_rx) = bounded::<Result<Finished>>(threads + 2);
    // Every worker holds one, the consumer one, and two wait finished (more are no faster).
    let buffers = threads + 3;
    let (free_tx, free_rx) = bounded::<Vec<Vec<u8>>>(buffers);
    let sides: Vec<u32> = config
        .pipeline
        .views
        .iter()
        .map(|v| v.crop.size())
        .collect();
    let lens: Vec<usize> = (0..sides.len())
        .map(|v| config.pipeline.view_bytes(v) * plan.batch_size)
        .collect();
    {
        let mut kept = spare.lock().expect("spare buffers");
        for _ in 0..buffers {
            let reused = kept
                .iter()
                .position(|b| b.iter().map(Vec::len).eq(lens.iter().copied()))
                .map(|i| kept.swap_remove(i));
            let views = reused.unwrap_or_else(|| lens.iter().map(|n| vec![0u8; *n]).collect());
            free_tx.send(views).expect("room for every buffer");
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let cursor = Cursor {
        seed: plan.seed,
        epoch: plan.epoch,
        position: plan.from,
        mixture: plan.mixture.clone(),
    };
    let step = plan.world as u64 * plan.batch_size as u64;
    let total = plan.batches;
    let (seed, epoch, batch) = (plan.seed, plan.epoch, plan.batch_size);
    // The loader's threads, or new ones while another stream of this loader holds them.
    let kept = crew_slot.lock().expect("crew").take();
    let crew = match kept {
        Some(c) if c.workers() == threads => c,
        _ => Crew::new(threads)?,
    };
    for t in 0..threads {
        // Checked here so that a pipeline the decoder cannot take fails the call, not a thread.
        let fresh = Augmenter::new(config.pipeline.clone()).map_err(Error::Worker)?;
        let (jobs, ready, free) = (job_rx.clone(), ready_tx.clone(), free_rx.clone());
        let (stats, stop) = (stats.clone(), stop.clone());
        crew.run(
            t,
            Box::new(move |kept: &mut Option<Augmenter>| {
                let aug = match kept {
                    Some(a) if a.pipeline() == fresh.pipeline() => a,
                    _ => kept.insert(fresh),
                };
                let run = (seed, epoch, batch);
                worker(aug, run, &jobs, &ready, &free, &stats, &stop)
            }),
        )?;
    }
    let max_inflight = config.max_inflight.max(1);
    {
        let stop = stop.clone();
        crew.run(
            threads,
            Box::new(move |_: &mut Option<Augmenter>| {
                planner(plan, &fetcher, &runtime, max_inflight, &job_tx, &stop)
            }),
        )?;
    }
    Ok(Stream {
        ready: ready_rx,
        jobs: job_rx,
        pending: BTreeMap::new(),
        next: 0,
        total,
        step,
        cursor,
        sides,
        free: free_tx,
        idle: free_rx,
        spare,
        buffers,
        crew: Some(crew),
        crew_slot,
        stats,
        stop,
        failed: false,
    })
}

fn worker(
    aug: &mut Augmenter,
    (seed, epoch, batch): (u64, u64, usize),
    jobs: &Receiver<Msg>,
    ready: &Sender<Result<Finished>>,
    free: &Receiver<Vec<Vec<u8>>>,
    stats: &Stats,
    stop: &AtomicBool,
) {
    // A worker takes a buffer before it takes a job: the job it takes can always be finished,
    // so the batch the consumer waits for never sits behind buffers held by later batches.
    loop {
        let Some(mut views) = wait(free, stop) else {
            return;
        };
        let Some(msg) = wait(jobs, stop) else {
            return;
        };
        let job = match msg {
            Msg::Job(j) => j,
            Msg::Failed(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        // A consumer may have kept a buffer (`Batch::take_view`): replace what is missing.
        for (v, buf) in views.iter_mut().enumerate() {
            let want = aug.pipeline().view_bytes(v) * batch;
            if buf.len() != want {
                *buf = vec![0u8; want];
            }
        }
        let result = fill(aug, (seed, epoch), job, &mut views, stats).map(|items| Finished {
            index: items.0,
            views,
            items: items.1,
        });
        if ready.send(result).is_err() {
            return;
        }
    }
}

/// Receives from `rx`, giving up when the stream is dropped or the channel closes.
fn wait<T>(rx: &Receiver<T>, stop: &AtomicBool) -> Option<T> {
    loop {
        if stop.load(Relaxed) {
            return None;
        }
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(v) => return Some(v),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
            Err(_) => return None,
        }
    }
}

/// Renders every sample of a job into `views`; a sample that fails is replaced by the next row
/// of its block that decodes.
fn fill(
    aug: &mut Augmenter,
    (seed, epoch): (u64, u64),
    mut job: Job,
    views: &mut [Vec<u8>],
    stats: &Stats,
) -> Result<(u64, Vec<SampleRef>)> {
    let sizes: Vec<usize> = (0..views.len())
        .map(|v| aug.pipeline().view_bytes(v))
        .collect();
    let mut chunks: Vec<std::slice::ChunksExactMut<'_, u8>> = views
        .iter_mut()
        .zip(&sizes)
        .map(|(v, n)| v.chunks_exact_mut(*n))
        .collect();
    let mut slots: Vec<&mut [u8]> = Vec::with_capacity(chunks.len());
    for item in &mut job.items {
        slots.clear();
        for c in chunks.iter_mut() {
            slots.push(c.next().expect("a slot per sample"));
        }
        let block = &item.block;
        let row = item.sample.row as usize;
        let s = sample_seed(seed, epoch, block.id(row), item.position);
        let mut rendered = aug.process(block.image(row), s, &mut slots);
        let mut tried = 1;
        while rendered.is_err() && tried < block.len() {
            let alt = (row + tried) % block.len();
            rendered = aug.process(block.image(alt), s, &mut slots);
            if rendered.is_ok() {
                item.row = alt as u32;
                stats.replaced.fetch_add(1, Relaxed);
                tracing::warn!(
                    "sample {} does not decode; rendered row {alt} of its row group instead",
                    block.id(row)
                );
            }
            tried += 1;
        }
        match rendered {
            Ok(t) => {
                stats.decode_ns.fetch_add(t.decode_ns, Relaxed);
                stats.augment_ns.fetch_add(t.augment_ns, Relaxed);
            }
            Err(_) => {
                return Err(Error::NoReplacement {
                    path: format!("source {} shard {}", item.sample.source, item.sample.shard),
                    row_group: item.sample.row_group as usize,
                    id: block.id(row).to_string(),
                });
            }
        }
    }
    Ok((job.index, job.items))
}

enum Slot {
    Pending(tokio::task::JoinHandle<Result<BlockRef>>),
    Ready(BlockRef),
}

/// Walks the rank's positions in order, fetching the row groups of the current and next shuffle
/// window, and sends one job per batch.
fn planner(
    plan: Plan,
    fetcher: &Arc<Fetcher>,
    runtime: &tokio::runtime::Runtime,
    max_inflight: usize,
    jobs: &Sender<Msg>,
    stop: &AtomicBool,
) {
    let mut p = Planner {
        plan: &plan,
        fetcher,
        runtime,
        sem: Arc::new(tokio::sync::Semaphore::new(max_inflight)),
        windows: HashMap::new(),
        blocks: HashMap::new(),
    };
    if let Err(e) = p.run(jobs, stop) {
        let _ = jobs.send(Msg::Failed(e));
    }
}

struct Planner<'a> {
    plan: &'a Plan,
    fetcher: &'a Arc<Fetcher>,
    runtime: &'a tokio::runtime::Runtime,
    sem: Arc<tokio::sync::Semaphore>,
    /// Samples of visited windows, by visit number.
    windows: HashMap<u64, Arc<Vec<Sample>>>,
    /// Row groups fetched or in flight, with the last visit that needs them.
    blocks: HashMap<(u32, u32, u32), (Slot, u64)>,
}

impl Planner<'_> {
    fn n(&self) -> u64 {
        self.plan.order.len()
    }

    /// Visit number of position `p` (windows counted across wrap-around passes).
    fn visit(&self, p: u64) -> u64 {
        let o = &self.plan.order;
        (p / o.len()) * o.windows() + o.window_of(p % o.len()).0
    }

    fn last_position(&self) -> u64 {
        let k = self.plan.batches * self.plan.batch_size as u64;
        self.plan.first() + k.saturating_sub(1) * self.plan.world as u64
    }

    /// Computes visit `v`'s window and starts fetching the row groups this rank needs from it.
    fn schedule(&mut self, v: u64) {
        if self.windows.contains_key(&v) {
            return;
        }
        let o = self.plan.order.clone();
        let (pass, j) = (v / o.windows(), v % o.windows());
        let span_start = pass * o.len() + j * o.config().window;
        let span_end = pass * o.len() + ((j + 1) * o.config().window).min(o.len());
        let window = Arc::new(o.window(j));
        let (w, r) = (self.plan.world as u64, self.plan.rank as u64);
        let lo = span_start.max(self.plan.first());
        let hi = span_end.min(self.last_position() + 1);
        let mut p = lo - lo % w + r;
        if p < lo {
            p += w;
        }
        while p < hi {
            let s = window[(p - span_start) as usize];
            let key = s.block_key();
            match self.blocks.get_mut(&key) {
                Some((_, last)) => *last = (*last).max(v),
                None => {
                    let (f, sem) = (self.fetcher.clone(), self.sem.clone());
                    let handle = self.runtime.spawn(async move {
                        let _permit = sem.acquire_owned().await.expect("semaphore open");
                        f.block(key).await
                    });
                    self.blocks.insert(key, (Slot::Pending(handle), v));
                }
            }
            p += w;
        }
        self.windows.insert(v, window);
    }

    fn block(&mut self, key: (u32, u32, u32)) -> Result<BlockRef> {
        let (slot, _) = self.blocks.get_mut(&key).expect("scheduled");
        if let Slot::Pending(h) = slot {
            let got = self
                .runtime
                .block_on(h)
                .map_err(|e| Error::Worker(e.to_string()))??;
            *slot = Slot::Ready(got);
        }
        match slot {
            Slot::Ready(b) => Ok(b.clone()),
            Slot::Pending(_) => unreachable!("resolved above"),
        }
    }

    fn run(&mut self, jobs: &Sender<Msg>, stop: &AtomicBool) -> Result<()> {
        let (w, b) = (self.plan.world as u64, self.plan.batch_size as u64);
        let first = self.plan.first();
        let mut current = u64::MAX;
        for index in 0..self.plan.batches {
            let mut items = Vec::with_capacity(b as usize);
            for k in index * b..(index + 1) * b {
                let p = first + k * w;
                let v = self.visit(p);
                if v != current {
                    self.schedule(v);
                    self.schedule(v + 1);
                    self.windows.retain(|k, _| *k >= v);
                    self.blocks.retain(|_, (_, last)| *last >= v);
                    current = v;
                }
                let q = p % self.n();
                let (_, span) = self.plan.order.window_of(q);
                let sample = self.windows[&v][(q - span.start) as usize];
                let block = self.block(sample.block_key())?;
                items.push(SampleRef {
                    position: p,
                    sample,
                    row: sample.row,
                    block,
                });
            }
            if stop.load(Relaxed) || jobs.send(Msg::Job(Job { index, items })).is_err() {
                return Ok(());
            }
        }
        Ok(())
    }
}
