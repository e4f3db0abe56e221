//! Client side of a collection's progress: `POST …/collect` with
//! `Accept: application/x-ndjson`, each progress line handed to a callback as it arrives.

use super::{decode, read_answer, Client, ClientError, CollectRequest, CollectResult, Payload};
use crate::api::collect::PROGRESS_MEDIA_TYPE;
use crate::api::problem::Problem;
use crate::collect::progress::CollectProgress;
use crate::domain::RunId;
use futures_util::StreamExt;
use reqwest::Method;

/// The longest line accepted (the result line carries the manifest).
const MAX_LINE: usize = 64 << 20;

impl Client {
    /// [`Client::collect`], with the server's progress (samples and bytes so far) passed to
    /// `on_progress` as it comes. A collection refused or finished before its engine started
    /// answers plainly, without progress.
    pub async fn collect_with_progress(
        &self,
        session: &RunId,
        req: &CollectRequest,
        mut on_progress: impl FnMut(&CollectProgress),
    ) -> Result<CollectResult, ClientError> {
        let path = format!("/api/v1/sessions/{session}/collect");
        let url = format!("{}{path}", self.base);
        let body = Self::json(req);
        let accept = Some(PROGRESS_MEDIA_TYPE);
        let resp = self
            .send_response(
                Method::POST,
                &path,
                body.as_ref().map(Payload::Json),
                None,
                accept,
            )
            .await?;
        let streamed = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with(PROGRESS_MEDIA_TYPE));
        if !streamed {
            return decode(url.clone(), read_answer(url, resp).await?);
        }
        let status = resp.status().as_u16();
        let bad = |body: String| ClientError::Decode {
            url: url.clone(),
            status,
            body,
        };
        let mut chunks = resp.bytes_stream();
        let mut pending: Vec<u8> = Vec::new();
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|source| ClientError::Transport {
                url: url.clone(),
                source,
            })?;
            pending.extend_from_slice(&chunk);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                match parse_line(&line).map_err(&bad)? {
                    Line::Progress(p) => on_progress(&p),
                    Line::Result(r) => return Ok(*r),
                    Line::Problem(p) => return Err(ClientError::Problem(p)),
                    Line::Other => {}
                }
            }
            if pending.len() > MAX_LINE {
                return Err(bad(format!("a line longer than {MAX_LINE} bytes")));
            }
        }
        Err(bad("the stream ended before the collection's result".into()))
    }
}

enum Line {
    Progress(CollectProgress),
    Result(Box<CollectResult>),
    Problem(Box<Problem>),
    /// A kind of line this client does not know (a newer server): skipped.
    Other,
}

fn parse_line(line: &[u8]) -> Result<Line, String> {
    let text = String::from_utf8_lossy(line);
    if text.trim().is_empty() {
        return Ok(Line::Other);
    }
    let mut v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{e}: {}", cut(&text)))?;
    let kind = v["event"].as_str().unwrap_or_default().to_owned();
    let err = |e: serde_json::Error| format!("{kind} line: {e}");
    Ok(match kind.as_str() {
        "progress" => Line::Progress(serde_json::from_value(v).map_err(err)?),
        "result" => Line::Result(Box::new(
            serde_json::from_value(v["result"].take()).map_err(err)?,
        )),
        "problem" => Line::Problem(Box::new(
            serde_json::from_value(v["problem"].take()).map_err(err)?,
        )),
        _ => Line::Other,
    })
}

fn cut(text: &str) -> String {
    text.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_progress_result_or_problem_and_unknown_ones_are_skipped() {
        let p = br#"{"event":"progress","samples":5,"bytes":9,"chunks_done":0,"chunks":0}"#;
        assert!(matches!(parse_line(p), Ok(Line::Progress(c)) if c.samples == 5 && c.bytes == 9));
        let r = br#"{"event":"result","status":201,"result":{"bundle_dir":"/b","samples":3}}"#;
        assert!(matches!(parse_line(r), Ok(Line::Result(c)) if c.bundle_dir == "/b"));
        let e = br#"{"event":"problem","status":502,"problem":{"type":"/problems/x","title":"t","status":502,"detail":"d"}}"#;
        assert!(matches!(parse_line(e), Ok(Line::Problem(p)) if p.status == 502));
        assert!(matches!(
            parse_line(br#"{"event":"later"}"#),
            Ok(Line::Other)
        ));
        assert!(parse_line(b"not json").is_err());
    }
}
