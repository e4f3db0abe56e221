//! Sessions: the record and its state machine, the store, and the service that starts, follows
//! and stops their Prometheus jobs.

mod credentials;
mod error;
mod events;
mod jobfiles;
mod manager;
mod model;
mod monitor;
mod phase;
mod push;
mod requests;
mod rules;
mod shards;
mod silence;
mod store;
mod wait;
mod windows;

pub use credentials::store_client;
pub use error::SessionError;
pub use events::{Event, EventError, EventKind, NewEvent, Severity};
pub use manager::Sessions;
pub use model::{LostShard, ScraperJob, ScraperSilence, Session, SessionState};
pub use phase::PhaseWindow;
pub use push::{PushBody, PushFailure, PushReceipt};
pub use requests::{CreateSession, StartSession};
pub use rules::{RulesError, RulesView, SetRules};
pub use silence::silence_limit;
pub use store::{SessionCell, SessionGuard, SessionStore, StoreError};
pub use windows::{CloseWindow, NewWindow, Window, WindowError};
