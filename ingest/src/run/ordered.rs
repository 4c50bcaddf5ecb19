//! An ordered parallel map: items are processed on worker threads and handed to the sink in
//! input order, with at most `window` items in flight (bounded memory whatever the timing).

use std::collections::BTreeMap;

use crossbeam_channel::{Receiver, Sender, bounded};

use crate::image::ResizePolicy;

/// The default number of items in flight: a few per worker.
pub fn default_window(workers: usize) -> usize {
    workers.max(1) * 8 + 16
}

/// How many images the ingest pool may hold between reading and writing with `workers`
/// threads under `policy`. When every stored image is at most 1024 px on its longer side,
/// enough for the workers to run on while the writer closes a 48 MiB row group (about 4% of an
/// ingest of small figures was spent waiting there); otherwise the pool's default, since images
/// stored at full size can be tens of megabytes each.
pub fn pool_window(policy: ResizePolicy, workers: usize) -> usize {
    match policy {
        ResizePolicy::MaxSide(n) if n <= 1024 => workers.max(1) * 64 + 128,
        _ => default_window(workers),
    }
}

/// Maps `items` through `work` on `workers` threads and feeds the results, in input order,
/// to `sink`, with at most `window` items between the iterator and the sink ([`default_window`]
/// unless the caller knows better: a larger window lets the workers run on while the sink is
/// busy, at the cost of holding that many results). Stops at the first error from the iterator
/// (returned through `sink`'s caller as the item) or from `sink`.
pub fn ordered_map<T, R, E, I, W, S>(
    items: I,
    workers: usize,
    window: usize,
    work: W,
    mut sink: S,
) -> Result<(), E>
where
    T: Send,
    R: Send,
    E: Send,
    I: Iterator<Item = Result<T, E>> + Send,
    W: Fn(T) -> R + Sync,
    S: FnMut(R) -> Result<(), E>,
{
    let workers = workers.max(1);
    let window = window.max(1);
    std::thread::scope(|scope| {
        let (job_tx, job_rx) = bounded::<(u64, T)>(window);
        let (res_tx, res_rx) = bounded::<(u64, Result<R, E>)>(window);
        let (token_tx, token_rx) = bounded::<()>(window);
        for _ in 0..window {
            token_tx.send(()).expect("fresh channel");
        }
        let feeder_res = res_tx.clone();
        scope.spawn(move || feed(items, job_tx, feeder_res, token_rx));
        for _ in 0..workers {
            let (rx, tx, work) = (job_rx.clone(), res_tx.clone(), &work);
            scope.spawn(move || {
                for (seq, item) in rx {
                    if tx.send((seq, Ok(work(item)))).is_err() {
                        break;
                    }
                }
            });
        }
        drop((job_rx, res_tx));
        drain(res_rx, token_tx, &mut sink)
    })
}

fn feed<T, R, E, I>(
    items: I,
    jobs: Sender<(u64, T)>,
    results: Sender<(u64, Result<R, E>)>,
    tokens: Receiver<()>,
) where
    I: Iterator<Item = Result<T, E>>,
{
    for (seq, item) in items.enumerate() {
        if tokens.recv().is_err() {
            return;
        }
        let sent = match item {
            Ok(t) => jobs.send((seq as u64, t)).is_ok(),
            Err(e) => {
                let _ = results.send((seq as u64, Err(e)));
                return;
            }
        };
        if !sent {
            return;
        }
    }
}

fn drain<R, E, S>(
    results: Receiver<(u64, Result<R, E>)>,
    tokens: Sender<()>,
    sink: &mut S,
) -> Result<(), E>
where
    S: FnMut(R) -> Result<(), E>,
{
    let mut next = 0u64;
    let mut early: BTreeMap<u64, Result<R, E>> = BTreeMap::new();
    for (seq, r) in results {
        early.insert(seq, r);
        while let Some(r) = early.remove(&next) {
            next += 1;
            sink(r?)?;
            let _ = tokens.send(());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_stored_images_get_a_larger_window() {
        assert_eq!(pool_window(ResizePolicy::MaxSide(512), 2), 256);
        assert_eq!(pool_window(ResizePolicy::None, 2), default_window(2));
    }

    #[test]
    fn keeps_order_under_uneven_work() {
        let items = (0..500u64).map(Ok::<_, String>);
        let mut out = Vec::new();
        ordered_map(
            items,
            4,
            default_window(4),
            |i| {
                if i % 7 == 0 {
                    std::thread::sleep(std::time::Duration::from_micros(300));
                }
                i * 2
            },
            |r| {
                out.push(r);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(out, (0..500).map(|i| i * 2).collect::<Vec<_>>());
    }

    #[test]
    fn never_more_than_the_window_in_flight() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let (started, mut finished, mut most) = (AtomicUsize::new(0), 0usize, 0usize);
        ordered_map(
            (0..400u64).map(Ok::<_, String>),
            3,
            7,
            |i| {
                started.fetch_add(1, Ordering::SeqCst);
                if i % 5 == 0 {
                    std::thread::sleep(std::time::Duration::from_micros(200));
                }
                i
            },
            |_| {
                finished += 1;
                most = most.max(started.load(Ordering::SeqCst) - finished);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(finished, 400);
        assert!(most <= 7, "{most} items in flight with a window of 7");
    }

    #[test]
    fn sink_error_stops_everything() {
        let items = (0..10_000u64).map(Ok::<_, String>);
        let mut seen = 0;
        let r = ordered_map(
            items,
            3,
            default_window(3),
            |i| i,
            |i| {
                seen += 1;
                if i == 50 {
                    Err("stop".to_string())
                } else {
                    Ok(())
                }
            },
        );
        assert_eq!(r.unwrap_err(), "stop");
        assert_eq!(seen, 51);
    }

    #[test]
    fn iterator_error_arrives_in_order() {
        let items = (0..100u64).map(|i| {
            if i == 40 {
                Err(format!("bad {i}"))
            } else {
                Ok(i)
            }
        });
        let mut seen = Vec::new();
        let r = ordered_map(
            items,
            2,
            default_window(2),
            |i| i,
            |i| {
                seen.push(i);
                Ok(())
            },
        );
        assert_eq!(r.unwrap_err(), "bad 40");
        assert_eq!(seen, (0..40).collect::<Vec<_>>());
    }
}
