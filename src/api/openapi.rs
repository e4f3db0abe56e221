//! Document-wide rules of the OpenAPI document, so that it says what the server does: error
//! bodies are `application/problem+json`, every status the edge can answer is listed, and the
//! bearer token is optional (a server without tokens needs none).
//!
//! The per-route annotations list what a handler itself answers; the statuses that come from
//! the layers and extractors every route shares (auth, a bad path id, a body that is too
//! large, not JSON or invalid, shutdown) are added here from the operation's shape, so a new
//! route gets them without anyone remembering to.

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Response, ResponseBuilder};

/// The media type of every 4xx/5xx body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Declares the optional bearer token (`security: [{}, {bearer: []}]`), so Swagger UI's
/// "Authorize" button works and a client without a token is still conforming.
pub struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, doc: &mut OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("Only when the server has tokens configured: a read token for GET routes, a write token for everything."))
                    .build(),
            ),
        );
        doc.security = Some(vec![
            SecurityRequirement::default(),
            SecurityRequirement::new("bearer", Vec::<String>::new()),
        ]);
    }
}

/// Problem responses for every operation, from its shape (see the module comment).
pub struct ProblemResponses;

impl utoipa::Modify for ProblemResponses {
    fn modify(&self, doc: &mut OpenApi) {
        for (path, item) in doc.paths.paths.iter_mut() {
            let api = path.starts_with("/api/v1/");
            let ops = [
                (&mut item.get, false),
                (&mut item.post, false),
                (&mut item.put, false),
                (&mut item.delete, true),
            ];
            for (op, is_delete) in ops {
                let Some(op) = op else { continue };
                add_shared_statuses(op, api, is_delete);
                constrain_path_ids(op, path);
                for (status, resp) in op.responses.responses.iter_mut() {
                    if let (true, RefOr::T(resp)) = (status.as_str() >= "400", resp) {
                        as_problem(resp);
                    }
                }
            }
        }
    }
}

fn add_shared_statuses(op: &mut Operation, api: bool, is_delete: bool) {
    let has = |op: &Operation, at: ParameterIn| {
        op.parameters.iter().flatten().any(|p| p.parameter_in == at)
    };
    let mut shared: Vec<(&str, &str)> = Vec::new();
    if api {
        shared.push((
            "401",
            "No bearer token, or an unknown one (only when the server has tokens)",
        ));
        shared.push((
            "403",
            "A read token on a write route (only when the server has tokens)",
        ));
    }
    if has(op, ParameterIn::Path) {
        shared.push(("404", "No such session (or client, service, window)"));
        shared.push(("422", "A path id does not match its grammar"));
        shared.push(("503", "benchmon is shutting down"));
        if op.request_body.is_some() || is_delete {
            shared.push((
                "409",
                "The session was deleted meanwhile, or its state does not allow this",
            ));
        }
    }
    if has(op, ParameterIn::Query) {
        shared.push(("422", "A query parameter is invalid"));
    }
    if op.request_body.is_some() {
        shared.push(("413", "The body is over `server.max_body_bytes`"));
        shared.push((
            "415",
            "The body is declared as something other than application/json",
        ));
        shared.push((
            "422",
            "The body is not JSON, or a field is invalid (`field` names it)",
        ));
    }
    for (status, why) in shared {
        op.responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| problem(why).into());
    }
}

/// Every path parameter is an id (session, client, service, window) or a bundle's directory
/// or file name: its grammar, so the document is not looser than the `IdPath` extractor.
fn constrain_path_ids(op: &mut Operation, path: &str) {
    use crate::domain::{FILE_NAME_PATTERN, IDENT_PATTERN};
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let files = path.contains("/collections/{collection}/files");
    for p in op.parameters.iter_mut().flatten() {
        if p.parameter_in == ParameterIn::Path {
            let pattern = match p.name.as_str() {
                "collection" => FILE_NAME_PATTERN,
                "name" if files => FILE_NAME_PATTERN,
                _ => IDENT_PATTERN,
            };
            let id = ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(pattern));
            p.schema = Some(id.into());
        }
    }
}

/// A response whose body is a `Problem`.
fn problem(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_JSON,
            Content::new(Some(Ref::from_schema_name("Problem"))),
        )
        .build()
}

/// Error bodies are served as problem+json; the annotations' `body = Problem` says JSON.
fn as_problem(resp: &mut Response) {
    if let Some(content) = resp.content.shift_remove("application/json") {
        resp.content.insert(PROBLEM_JSON.to_owned(), content);
    }
}
