//! The reader and pool through the library API: coverage, order, determinism, resume, mixing,
//! filters, integrity, replacement, cache.

use std::collections::BTreeSet;
use std::time::Instant;

use image::{ImageEncoder, RgbImage};
use unimlip_loader::augment::Crop;
use unimlip_loader::testkit::{info, write_dataset};
use unimlip_loader::{
    Batch, CacheConfig, Cursor, Loader, LoaderConfig, OrderConfig, Pipeline, SourceSpec, Tail,
};
use unimlip_shards::{ImageFormat, Store};

fn jpeg(i: usize, side: u32) -> Vec<u8> {
    let img = RgbImage::from_fn(side, side, |x, y| {
        image::Rgb([
            (i * 37 % 256) as u8,
            (x * 255 / side) as u8,
            (y * 255 / side) as u8,
        ])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .write_image(img.as_raw(), side, side, image::ExtendedColorType::Rgb8)
        .unwrap();
    out
}

fn dataset(dir: &std::path::Path, name: &str, rows: usize, per_group: usize) -> String {
    let url = dir.join(name).display().to_string();
    let store = Store::open(&url).unwrap();
    let img = jpeg(0, 24);
    let bad = b"garbage".to_vec();
    write_dataset(&store, &[("train", rows)], per_group, 4, &|i| {
        let bytes = if name.contains("bad") && i == 5 {
            bad.clone()
        } else if i % 7 == 0 {
            jpeg(i, 24)
        } else {
            img.clone()
        };
        (bytes, info(ImageFormat::Jpeg, 24, 24, 3))
    })
    .unwrap();
    url
}

fn small_pipeline() -> Pipeline {
    let mut p = Pipeline::unimlip();
    for v in &mut p.views {
        if let Crop::RandomResized { size, .. } = &mut v.crop {
            *size = 16;
        }
    }
    p
}

fn config(urls: &[&str], batch: usize, threads: usize) -> LoaderConfig {
    let mut c = LoaderConfig::new(
        urls.iter().map(|u| SourceSpec::new(u)).collect(),
        small_pipeline(),
        batch,
    );
    c.seed = 5;
    c.threads = threads;
    c.order = OrderConfig {
        lanes: 8,
        window: 64,
        ..OrderConfig::default()
    };
    c
}

/// (position, id, rendered row differs, first view bytes) of every sample of a stream.
fn drain(
    loader: &Loader,
    cursor: &Cursor,
    rank: u32,
    world: u32,
) -> (Vec<(u64, String, Vec<u8>)>, Cursor) {
    let mut out = Vec::new();
    let mut last = cursor.clone();
    for b in loader.stream(cursor, rank, world).unwrap() {
        let b: Batch = b.unwrap();
        for (i, s) in b.samples().iter().enumerate() {
            out.push((s.position, s.id().to_string(), b.image(i, 1).to_vec()));
        }
        last = b.cursor.clone();
    }
    (out, last)
}

#[test]
fn one_rank_sees_every_sample_once_and_thread_counts_do_not_matter() {
    let dir = tempfile::tempdir().unwrap();
    let url = dataset(dir.path(), "a", 320, 20);
    let one = Loader::open(config(&[&url], 8, 1)).unwrap();
    let three = Loader::open(config(&[&url], 8, 3)).unwrap();
    let (a, end) = drain(&one, &one.start(0), 0, 1);
    let (b, _) = drain(&three, &three.start(0), 0, 1);
    assert_eq!(
        a, b,
        "same samples, same pixels, same order with 1 and 3 threads"
    );
    let ids: BTreeSet<&str> = a.iter().map(|s| s.1.as_str()).collect();
    assert_eq!((a.len(), ids.len()), (320, 320));
    assert_eq!(end.position, 320);
    let positions: Vec<u64> = a.iter().map(|s| s.0).collect();
    assert_eq!(positions, (0..320).collect::<Vec<_>>());
    // The order is the plan's.
    let order = one.order(0);
    for (p, id, _) in a.iter().take(50) {
        let s = order.sample(*p);
        assert_eq!(
            id,
            &format!("train-{}", s.row + 20 * s.row_group + 80 * s.shard)
        );
    }
    let (next, _) = drain(&one, &one.start(1), 0, 1);
    assert_ne!(
        a.iter().map(|s| &s.1).collect::<Vec<_>>(),
        next.iter().map(|s| &s.1).collect::<Vec<_>>(),
        "another epoch, another order"
    );
}

#[test]
fn resuming_with_other_world_sizes_repeats_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let url = dataset(dir.path(), "a", 300, 16);
    let loader = Loader::open(config(&[&url], 4, 2)).unwrap();
    let n = 300u64;
    for (w1, steps, w2) in [(2u32, 5u64, 3u32), (3, 7, 1), (1, 11, 4), (4, 3, 2)] {
        // w1 ranks consume `steps` batches each.
        let mut seen = Vec::new();
        let mut cursor = loader.start(0);
        for r in 0..w1 {
            let mut s = loader.stream(&loader.start(0), r, w1).unwrap();
            for _ in 0..steps {
                let b = s.next().unwrap().unwrap();
                seen.extend(b.samples().iter().map(|x| x.position));
                cursor = b.cursor.clone();
            }
        }
        let json = serde_json::to_string(&cursor).unwrap();
        let back: Cursor = serde_json::from_str(&json).unwrap();
        assert_eq!(back.position, steps * 4 * w1 as u64);
        for r in 0..w2 {
            let (rest, _) = drain(&loader, &back, r, w2);
            seen.extend(rest.iter().map(|x| x.0));
        }
        let set: BTreeSet<u64> = seen.iter().copied().collect();
        assert_eq!(set.len(), seen.len(), "no duplicates ({w1} -> {w2})");
        let left = n - back.position;
        let expect = back.position + left / (4 * w2 as u64) * (4 * w2 as u64);
        assert_eq!(set, (0..expect).collect(), "no losses ({w1} -> {w2})");
    }
}

#[test]
fn padding_gives_every_rank_equal_batches_and_covers_everything() {
    let dir = tempfile::tempdir().unwrap();
    let url = dataset(dir.path(), "a", 101, 16);
    let mut c = config(&[&url], 4, 2);
    c.tail = Tail::Pad;
    let loader = Loader::open(c).unwrap();
    let mut ids = BTreeSet::new();
    let mut counts = Vec::new();
    for r in 0..3 {
        let (got, _) = drain(&loader, &loader.start(0), r, 3);
        counts.push(got.len());
        ids.extend(got.into_iter().map(|s| s.1));
    }
    assert_eq!(counts, [36, 36, 36]);
    assert_eq!(ids.len(), 101);
}

#[test]
fn mixtures_follow_their_weights_and_a_cursor_knows_its_mixture() {
    let dir = tempfile::tempdir().unwrap();
    let a = dataset(dir.path(), "a", 200, 20);
    let b = dataset(dir.path(), "b", 100, 20);
    let mut c = config(&[&a, &b], 10, 2);
    c.sources[0].name = Some("a".into());
    c.sources[1].name = Some("b".into());
    c.sources[1].weight = 2.0;
    let loader = Loader::open(c.clone()).unwrap();
    let mut per = [0usize; 2];
    for batch in loader.stream(&loader.start(0), 0, 1).unwrap() {
        for s in batch.unwrap().samples() {
            per[s.sample.source as usize] += 1;
        }
    }
    assert_eq!(per, [100, 200]);
    let mut other = c;
    other.sources[1].weight = 1.0;
    let other = Loader::open(other).unwrap();
    let err = other.stream(&loader.start(0), 0, 1).unwrap_err();
    assert!(err.to_string().contains("mixture"), "{err}");
}

#[test]
fn a_split_file_filters_rows() {
    let dir = tempfile::tempdir().unwrap();
    let url = dataset(dir.path(), "a", 120, 20);
    let store = Store::open(&url).unwrap();
    let rows: Vec<unimlip_shards::splits::SplitRow> = (0..120)
        .map(|i| {
            unimlip_shards::splits::SplitRow::new(
                &format!("train-{i}"),
                if i % 4 == 0 { "train" } else { "test" },
            )
        })
        .collect();
    store
        .put(
            "splits/quarter.parquet",
            unimlip_shards::splits::encode_split(&rows).unwrap(),
        )
        .unwrap();
    let mut c = config(&[&url], 5, 1);
    c.sources[0].split_file = Some(("quarter".into(), "train".into()));
    let loader = Loader::open(c).unwrap();
    let (got, _) = drain(&loader, &loader.start(0), 0, 1);
    let ids: BTreeSet<String> = got.into_iter().map(|s| s.1).collect();
    assert_eq!(
        ids,
        (0..120)
            .filter(|i| i % 4 == 0)
            .map(|i| format!("train-{i}"))
            .collect()
    );
}

#[test]
fn a_bad_image_is_replaced_the_same_way_every_time() {
    let dir = tempfile::tempdir().unwrap();
    let url = dataset(dir.path(), "bad", 64, 16);
    let loader = Loader::open(config(&[&url], 8, 2)).unwrap();
    let (a, _) = drain(&loader, &loader.start(0), 0, 1);
    let (b, _) = drain(&loader, &loader.start(0), 0, 1);
    assert_eq!(a, b);
    assert_eq!(loader.summary().replaced, 2, "one replacement per pass");
    let mut replaced = Vec::new();
    for batch in loader.stream(&loader.start(0), 0, 1).unwrap() {
        let batch = batch.unwrap();
        replaced.extend(
            batch
                .samples()
                .iter()
                .filter(|s| s.replaced())
                .map(|s| (s.id().to_string(), s.row)),
        );
    }
    assert_eq!(replaced, [("train-5".to_string(), 6)]);
}

#[test]
fn a_corrupt_shard_is_refused_before_use() {
    let dir = tempfile::tempdir().unwrap();
    let url = dataset(dir.path(), "a", 64, 16);
    let store = Store::open(&url).unwrap();
    let m = unimlip_shards::Manifest::load(&store).unwrap();
    let path = dir.path().join("a").join(&m.shards[0].path);
    let pristine = std::fs::read(&path).unwrap();
    let mut bytes = pristine.clone();
    bytes[100] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let first_error = || {
        let loader = Loader::open(config(&[&url], 8, 1)).unwrap();
        loader
            .stream(&loader.start(0), 0, 1)
            .unwrap()
            .find_map(|b| b.err())
            .expect("an error")
            .to_string()
    };
    // The row group's own hash catches it, without hashing the whole shard first.
    let err = first_error();
    assert!(
        err.contains("row group 0") && err.contains("sha256"),
        "{err}"
    );
    // A manifest without block hashes (written before they existed, when `sha256` was the
    // whole file's): the whole-shard hash.
    let mut m = unimlip_shards::Manifest::load(&store).unwrap();
    for (i, e) in m.shards.iter_mut().enumerate() {
        e.row_group_sha256.clear();
        e.footer_sha256.clear();
        e.sha256_of = unimlip_shards::ShardHash::File;
        let file = match i {
            0 => pristine.clone(),
            _ => std::fs::read(dir.path().join("a").join(&e.path)).unwrap(),
        };
        e.sha256 = unimlip_shards::sha256_hex(&file);
    }
    store
        .put("manifest.json", serde_json::to_vec(&m).unwrap())
        .unwrap();
    let err = first_error();
    assert!(
        err.contains("sha256") && !err.contains("row group"),
        "{err}"
    );
}

#[test]
fn the_cache_serves_the_second_run_and_keeps_its_cap() {
    let dir = tempfile::tempdir().unwrap();
    let url = dataset(dir.path(), "a", 200, 10);
    let cache = dir.path().join("cache");
    let mut c = config(&[&url], 10, 2);
    c.cache = Some(CacheConfig {
        dir: cache.clone(),
        max_bytes: u64::MAX,
    });
    let first = Loader::open(c.clone()).unwrap();
    let (a, _) = drain(&first, &first.start(0), 0, 1);
    let s1 = first.summary();
    assert!(s1.cache_misses > 0 && s1.cache_hits == 0, "{s1:?}");
    let second = Loader::open(c.clone()).unwrap();
    let (b, _) = drain(&second, &second.start(0), 0, 1);
    let s2 = second.summary();
    assert_eq!((s2.cache_misses, s2.cache_hits), (0, s1.cache_misses));
    assert_eq!(a, b);
    // A cap smaller than two shards: the folder never holds more than the cap plus the shard
    // being read, and the stream is still complete.
    let shard = std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .map(|e| e.metadata().unwrap().len())
        .max()
        .unwrap();
    c.cache.as_mut().unwrap().max_bytes = shard + shard / 2;
    let _ = std::fs::remove_dir_all(&cache);
    let capped = Loader::open(c).unwrap();
    let (d, _) = drain(&capped, &capped.start(0), 0, 1);
    assert_eq!(d, a);
    let total: u64 = std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert!(total <= 2 * shard + shard / 2, "{total} > cap");
}

#[test]
fn resume_reaches_the_first_batch_quickly_anywhere_in_100k_samples() {
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("big").display().to_string();
    let store = Store::open(&url).unwrap();
    let img = jpeg(1, 8);
    write_dataset(&store, &[("train", 100_000)], 2_000, 8, &|_| {
        (img.clone(), info(ImageFormat::Jpeg, 8, 8, 3))
    })
    .unwrap();
    let mut c = config(&[&url], 64, 2);
    c.order = OrderConfig::default();
    let loader = Loader::open(c).unwrap();
    for position in [0u64, 31_337, 64_000, 99_840] {
        let t0 = Instant::now();
        let mut cursor = loader.start(0);
        cursor.position = position;
        let mut s = loader.stream(&cursor, 0, 1).unwrap();
        let b = s.next().unwrap().unwrap();
        let took = t0.elapsed().as_secs_f64();
        assert_eq!(b.samples()[0].position, position);
        assert!(took < 5.0, "first batch at {position} took {took:.2} s");
    }
}

#[test]
fn two_jobs_sharing_a_small_cache_folder_both_read_correctly() {
    let dir = tempfile::tempdir().unwrap();
    let url = dataset(dir.path(), "a", 240, 10);
    let plain = Loader::open(config(&[&url], 8, 1)).unwrap();
    let (want, _) = drain(&plain, &plain.start(0), 0, 1);
    let shard = std::fs::read_dir(dir.path().join("a/shards"))
        .unwrap()
        .flatten()
        .map(|e| e.metadata().unwrap().len())
        .max()
        .unwrap();
    let mut c = config(&[&url], 8, 2);
    c.cache = Some(CacheConfig {
        dir: dir.path().join("shared-cache"),
        max_bytes: shard,
    });
    // Two jobs at once, each evicting what the other just downloaded.
    let jobs: Vec<_> = (0..2)
        .map(|_| {
            let c = c.clone();
            std::thread::spawn(move || {
                let l = Loader::open(c).unwrap();
                drain(&l, &l.start(0), 0, 1).0
            })
        })
        .collect();
    for j in jobs {
        assert_eq!(j.join().unwrap(), want);
    }
    let left: Vec<String> = std::fs::read_dir(dir.path().join("shared-cache"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    assert!(left.iter().all(|n| !n.starts_with(".tmp-")), "{left:?}");
}

#[test]
fn each_once_sees_every_row_once_and_never_the_padding() {
    let dir = tempfile::tempdir().unwrap();
    // 70 rows: two full batches of 32 and a padded third.
    let url = dataset(dir.path(), "once", 70, 16);
    let loader = Loader::once(vec![SourceSpec::new(&url)], Pipeline::eval(16), 2).unwrap();
    let mut ids = Vec::new();
    let seen = loader
        .each_once(None, |batch, keep| -> unimlip_loader::Result<()> {
            assert_eq!(batch.len(), 32, "batches are padded to full size");
            ids.extend(keep.iter().map(|&i| batch.samples()[i].id().to_string()));
            Ok(())
        })
        .unwrap();
    assert_eq!(seen, 70);
    let unique: std::collections::BTreeSet<_> = ids.iter().collect();
    assert_eq!((ids.len(), unique.len()), (70, 70));
    // A limit stops at the first `limit` positions of the same order.
    let mut first = Vec::new();
    let n = loader
        .each_once(Some(40), |batch, keep| -> unimlip_loader::Result<()> {
            first.extend(keep.iter().map(|&i| batch.samples()[i].id().to_string()));
            Ok(())
        })
        .unwrap();
    assert_eq!((n, first.as_slice()), (40, &ids[..40]));
}

#[test]
fn a_consumer_that_keeps_every_buffer_gets_the_same_batches_without_stalling() {
    let dir = tempfile::tempdir().unwrap();
    let url = dataset(dir.path(), "kept", 200, 20);
    let loader = Loader::open(config(&[&url], 8, 2)).unwrap();
    let (want, _) = drain(&loader, &loader.start(0), 0, 1);
    // Far more batches kept alive than the pool has buffers (threads + 3): each one taken is
    // replaced by a new allocation instead of waiting for a buffer that never comes back.
    let mut kept = Vec::new();
    let mut got = Vec::new();
    for b in loader.stream(&loader.start(0), 0, 1).unwrap() {
        let mut b: Batch = b.unwrap();
        let side = b.side(1) as usize;
        let view = b.take_view(1);
        assert_eq!(view.len(), 8 * side * side * 3);
        for (i, s) in b.samples().iter().enumerate() {
            let n = side * side * 3;
            got.push((
                s.position,
                s.id().to_string(),
                view[i * n..(i + 1) * n].to_vec(),
            ));
        }
        kept.push(view);
    }
    assert_eq!(kept.len(), 25);
    assert_eq!(got, want);
}
