//! What a job was submitted with: the request's [`SlurmOptions`] after the site defaults, as the
//! session record keeps it and the job script's `#SBATCH` lines render it.

use crate::domain::SlurmOptions;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use utoipa::openapi::{RefOr, Schema};

/// The SLURM resources a job was (or will be) submitted with, after site defaults. The same
/// fields as [`SlurmOptions`]; its own schema name, since a record is not a request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobResources(pub SlurmOptions);

impl std::ops::Deref for JobResources {
    type Target = SlurmOptions;
    fn deref(&self) -> &SlurmOptions {
        &self.0
    }
}

/// The fields come from [`SlurmOptions`]'s schema; the description is the record's own, and the
/// record's schema never declared `additionalProperties: false` (that is the request's rule).
impl utoipa::PartialSchema for JobResources {
    fn schema() -> RefOr<Schema> {
        let mut schema = <SlurmOptions as utoipa::PartialSchema>::schema();
        if let RefOr::T(Schema::Object(object)) = &mut schema {
            object.description = Some(
                "The SLURM resources a job was (or will be) submitted with, after site defaults."
                    .to_owned(),
            );
            object.additional_properties = None;
        }
        schema
    }
}

impl utoipa::ToSchema for JobResources {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("JobResources")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        <SlurmOptions as utoipa::ToSchema>::schemas(schemas);
    }
}
