//! Progress events of a collection and how they are sent: [`run`](super::run) and
//! [`finish`](super::finish) both report through [`emit`], so neither needs the other.

use serde::Serialize;
use tokio::sync::mpsc::UnboundedSender;
use utoipa::ToSchema;

/// Progress events, sent as the collection goes.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Progress {
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
