//! Progress events of a collection and how they are sent: [`run`](super::run) and
//! [`finish`](super::finish) both report through [`emit`], so neither needs the other.

use serde::Serialize;
use tokio::sync::mpsc::UnboundedSender;
use utoipa::ToSchema;

/// Progress events, sent as the collection goes.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Progress {
    /// The bundle is being written in `temp_dir` (published under its name when finished):
    /// its size on disk is how many bytes the collection has written so far.
    BundleCreated {
        temp_dir: String,
    },
    /// Raw samples streamed from remote read and handed to the writer so far (cumulative).
    RawSamples {
        samples: u64,
    },
    Started {
        queries: usize,
        chunks: usize,
    },
    ChunkFetched {
        // The name of the query the chunk belongs to (`raw`, `coverage` for those fetches),
        // not a SLURM job: the field name is part of the event format.
        job: String,
        chunk: usize,
        of: usize,
        samples: u64,
    },
    QueryDone {
        query: String,
        series: u64,
        samples: u64,
        absent: bool,
    },
    Finished {
        bundle_dir: String,
    },
}

/// Where progress events go, if anywhere.
pub(crate) type ProgressTx = Option<UnboundedSender<Progress>>;

/// Sends `p` if someone listens; a listener that went away is not an error.
pub(crate) fn emit(progress: &ProgressTx, p: Progress) {
    if let Some(tx) = progress {
        let _ = tx.send(p);
    }
}
