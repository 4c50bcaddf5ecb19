//! SHA-256 of consecutive byte segments of a stream, cut at given offsets: how a shard's row
//! groups and footer are hashed while it is written, and checked again when it is read back.

use std::collections::VecDeque;

use sha2::{Digest, Sha256};

/// Hashes a stream segment by segment.
pub struct Segments {
    current: Sha256,
    /// Bytes seen so far.
    bytes: u64,
    /// Offsets not yet reached at which the current segment ends, ascending.
    cuts: VecDeque<u64>,
    start: u64,
    /// Finished segments: (start, end, SHA-256).
    pub done: Vec<(u64, u64, [u8; 32])>,
}

impl Segments {
    /// Segments ending at `cuts` (ascending), and a last one ending where the stream ends.
    pub fn new(cuts: impl IntoIterator<Item = u64>) -> Segments {
        Segments {
            current: Sha256::new(),
            bytes: 0,
            cuts: cuts.into_iter().collect(),
            start: 0,
            done: Vec::new(),
        }
    }

    /// Ends the current segment at `offset` too (ignored before the last cut already known).
    pub fn cut_at(&mut self, offset: u64) {
        let last = self.cuts.back().copied().unwrap_or(self.start);
        if offset > last {
            self.cuts.push_back(offset);
        }
        self.update(&[]);
    }

    /// Hashes the next bytes of the stream, closing each segment whose cut they reach.
    pub fn update(&mut self, mut data: &[u8]) {
        while let Some(&cut) = self.cuts.front() {
            let k = cut.saturating_sub(self.bytes) as usize;
            if k > data.len() {
                break;
            }
            self.current.update(&data[..k]);
            self.bytes += k as u64;
            data = &data[k..];
            let digest = std::mem::take(&mut self.current).finalize().into();
            self.done.push((self.start, cut, digest));
            self.start = cut;
            self.cuts.pop_front();
        }
        self.current.update(data);
        self.bytes += data.len() as u64;
    }

    /// Bytes hashed so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Closes the last segment at the end of the stream.
    pub fn finish(&mut self) {
        let end = self.bytes;
        let digest = std::mem::take(&mut self.current).finalize().into();
        self.done.push((self.start, end, digest));
        self.start = end;
    }
}

/// The SHA-256 of a file whose segments hashed to `done` (see
/// [`crate::ShardHash::Segments`]): over their 32-byte digests, concatenated in order.
pub fn tree_sha256(done: &[(u64, u64, [u8; 32])]) -> [u8; 32] {
    let mut h = Sha256::new();
    for (_, _, digest) in done {
        h.update(digest);
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_match_hashing_each_slice() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        let mut s = Segments::new([4, 300]);
        for chunk in data.chunks(37) {
            s.update(chunk);
        }
        s.cut_at(100); // before a known cut: ignored
        s.finish();
        let want: Vec<(u64, u64, [u8; 32])> = [(0, 4), (4, 300), (300, 1000)]
            .iter()
            .map(|&(a, b)| (a, b, Sha256::digest(&data[a as usize..b as usize]).into()))
            .collect();
        assert_eq!(s.done, want);
        let mut concat = Vec::new();
        for (_, _, d) in &want {
            concat.extend_from_slice(d);
        }
        let tree: [u8; 32] = Sha256::digest(&concat).into();
        assert_eq!(tree_sha256(&s.done), tree);
        assert_ne!(tree, <[u8; 32]>::from(Sha256::digest(&data)));
    }
}
