//! A collection's progress as a client sees it: samples counted from the engine's
//! [`Progress`] events, bytes measured on disk in the bundle's temporary directory. The API
//! streams it to clients that ask (`Accept: application/x-ndjson`), the CLI draws its bar
//! from it.

use crate::export::Progress;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use utoipa::ToSchema;

/// Where a collection stands, every field a count so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CollectProgress {
    /// Samples fetched so far: raw samples streamed by remote read plus those of finished
    /// query chunks.
    pub samples: u64,
    /// Bytes the bundle holds on disk so far (its files and part files; at the end, the
    /// published bundle's).
    pub bytes: u64,
    /// Query chunks fetched, of `chunks` (0 of 0 while the raw export runs first).
    pub chunks_done: usize,
    pub chunks: usize,
}

/// Folds the engine's events into a [`CollectProgress`].
#[derive(Debug, Default)]
pub struct Tally {
    now: CollectProgress,
    raw_samples: u64,
    chunk_samples: u64,
    temp_dir: Option<PathBuf>,
}

impl Tally {
    pub fn apply(&mut self, event: &Progress) {
        match event {
            Progress::BundleCreated { temp_dir } => self.temp_dir = Some(temp_dir.into()),
            Progress::RawSamples { samples } => self.raw_samples = *samples,
            Progress::Started { chunks, .. } => self.now.chunks = *chunks,
            Progress::ChunkFetched { samples, .. } => {
                self.chunk_samples += samples;
                self.now.chunks_done += 1;
            }
            // Published under its final name: measured there from now on.
            Progress::Finished { bundle_dir } => self.temp_dir = Some(bundle_dir.into()),
            Progress::QueryDone { .. } => {}
        }
        self.now.samples = self.raw_samples + self.chunk_samples;
    }

    /// The progress now, with the bundle's size measured again.
    pub fn measure(&mut self) -> CollectProgress {
        if let Some(dir) = &self.temp_dir {
            // A directory that is gone (renamed as the bundle is published) keeps the last size.
            if let Some(bytes) = dir_bytes(dir) {
                self.now.bytes = bytes;
            }
        }
        self.now.clone()
    }
}

/// The size of the files under `dir` (one level of subdirectories: the part files); `None`
/// when `dir` cannot be read.
fn dir_bytes(dir: &Path) -> Option<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            let inner = std::fs::read_dir(entry.path()).ok().into_iter().flatten();
            total += inner
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum::<u64>();
        } else {
            total += meta.len();
        }
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_add_raw_and_chunk_counts_and_bytes_are_the_bundles_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("raw.csv"), vec![b'x'; 1000]).unwrap();
        std::fs::create_dir(dir.path().join(".parts")).unwrap();
        std::fs::write(dir.path().join(".parts/0"), vec![b'y'; 24]).unwrap();
        let mut t = Tally::default();
        let temp_dir = dir.path().to_string_lossy().into_owned();
        t.apply(&Progress::BundleCreated { temp_dir });
        t.apply(&Progress::RawSamples { samples: 500 });
        t.apply(&Progress::RawSamples { samples: 700 });
        t.apply(&Progress::Started {
            queries: 1,
            chunks: 2,
        });
        t.apply(&Progress::ChunkFetched {
            job: "q".into(),
            chunk: 0,
            of: 2,
            samples: 30,
        });
        let p = t.measure();
        assert_eq!(
            p,
            CollectProgress {
                samples: 730,
                bytes: 1024,
                chunks_done: 1,
                chunks: 2
            }
        );
        // A directory that cannot be read keeps the last size.
        t.apply(&Progress::Finished {
            bundle_dir: dir.path().join("gone").to_string_lossy().into_owned(),
        });
        assert_eq!(t.measure().bytes, 1024);
    }
}
